"""V-JEPA 2-AC's pose convention: extrinsic x-y-z Euler angles, rotation changes composed on the left."""

import math

import torch

from vjepa.models.pose import apply_delta_pose, euler_xyz_to_matrix, matrix_to_euler_xyz, pose_delta


def elementary(axis: int, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    m = torch.eye(3, dtype=torch.float64)
    m[i, i], m[j, j] = c, c
    m[i, j], m[j, i] = (-s, s) if axis != 1 else (s, -s)
    return m


def test_angles_are_rotations_about_the_fixed_x_then_y_then_z_axes():
    roll, pitch, yaw = 0.3, -0.7, 1.9
    expected = elementary(2, yaw) @ elementary(1, pitch) @ elementary(0, roll)
    matrix = euler_xyz_to_matrix(torch.tensor([roll, pitch, yaw], dtype=torch.float64))
    torch.testing.assert_close(matrix, expected)
    torch.testing.assert_close(euler_xyz_to_matrix(torch.tensor([0.0, 0.0, 0.5])) @ torch.tensor([1.0, 0.0, 0.0]),
                               torch.tensor([math.cos(0.5), math.sin(0.5), 0.0]))  # yaw turns x towards y


def test_matrix_back_to_angles_round_trips_away_from_gimbal_lock():
    angles = (torch.rand(1000, 3, dtype=torch.float64) - 0.5) * torch.tensor([2 * math.pi, 0.99 * math.pi, 2 * math.pi])
    torch.testing.assert_close(matrix_to_euler_xyz(euler_xyz_to_matrix(angles)), angles)
    locked = euler_xyz_to_matrix(torch.tensor([0.4, math.pi / 2, 0.1], dtype=torch.float64))
    torch.testing.assert_close(euler_xyz_to_matrix(matrix_to_euler_xyz(locked)), locked)  # same rotation


def test_delta_pose_adds_position_and_gripper_and_composes_rotation():
    pose = torch.tensor([0.1, 0.2, 0.3, 0.2, -0.1, 0.5, 0.9], dtype=torch.float64)
    action = torch.tensor([0.01, -0.02, 0.03, 0.05, 0.02, -0.1, 0.3], dtype=torch.float64)
    new = apply_delta_pose(pose, action)
    torch.testing.assert_close(new[:3], pose[:3] + action[:3])
    assert new[6] == 1.0  # 0.9 + 0.3, clipped
    torch.testing.assert_close(euler_xyz_to_matrix(new[3:6]),
                               euler_xyz_to_matrix(action[3:6]) @ euler_xyz_to_matrix(pose[3:6]))
    # a pure yaw change on a pure yaw pose adds, as angles about one axis do
    yaw = apply_delta_pose(torch.tensor([0, 0, 0, 0, 0, 0.3, 0.0]), torch.tensor([0, 0, 0, 0, 0, 0.2, 0.0]))
    torch.testing.assert_close(yaw[5], torch.tensor(0.5))


def test_pose_delta_is_the_action_that_apply_delta_pose_undoes():
    """Actions from logged poses (V-JEPA 2-AC's poses_to_diffs) and the planner's pose update are inverses."""
    g = torch.Generator().manual_seed(0)
    poses = torch.cat([torch.randn(2, 50, 3, generator=g, dtype=torch.float64),
                       (torch.rand(2, 50, 3, generator=g, dtype=torch.float64) - 0.5) * 2.5,
                       torch.rand(2, 50, 1, generator=g, dtype=torch.float64)], dim=-1)
    actions = pose_delta(poses[:, :-1], poses[:, 1:])
    torch.testing.assert_close(apply_delta_pose(poses[:, :-1], actions), poses[:, 1:])
    torch.testing.assert_close(euler_xyz_to_matrix(actions[..., 3:6]),
                               euler_xyz_to_matrix(poses[:, 1:, 3:6]) @ euler_xyz_to_matrix(poses[:, :-1, 3:6]).mT)
    assert pose_delta(poses, poses).abs().max() < 1e-12  # standing still is the zero action
