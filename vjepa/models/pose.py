"""End-effector poses as V-JEPA 2-AC uses them: 7-D [x, y, z, roll, pitch, yaw, gripper], Euler angles about the
fixed x, y, z axes in that order (extrinsic "xyz": R = Rz(yaw) Ry(pitch) Rx(roll), scipy's ``from_euler("xyz")``
as the release's DROID loader uses it), and its actions: the pose change between two frames, [dx, dy, dz, droll,
dpitch, dyaw, dgripper], with the rotation change R_delta = R_next R_prev^T (`pose_delta`; `apply_delta_pose` undoes
it). Batched torch, differentiable, any leading dimensions."""

from __future__ import annotations

import torch
from torch import Tensor


def euler_xyz_to_matrix(angles: Tensor) -> Tensor:
    """(..., 3) extrinsic x, y, z angles (radians) -> (..., 3, 3) rotation matrices Rz @ Ry @ Rx."""
    (ca, cb, cg), (sa, sb, sg) = angles.cos().unbind(-1), angles.sin().unbind(-1)
    rows = [
        [cb * cg, sa * sb * cg - ca * sg, ca * sb * cg + sa * sg],
        [cb * sg, sa * sb * sg + ca * cg, ca * sb * sg - sa * cg],
        [-sb, sa * cb, ca * cb],
    ]
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def matrix_to_euler_xyz(matrix: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) extrinsic x, y, z angles, pitch in [-pi/2, pi/2]; at gimbal lock
    (pitch = +-pi/2) yaw is set to 0 and roll carries the remaining rotation."""
    pitch = torch.asin((-matrix[..., 2, 0]).clamp(-1.0, 1.0))
    locked = matrix[..., 2, 0].abs() > 1 - 1e-6
    roll = torch.where(locked, torch.atan2(-matrix[..., 1, 2], matrix[..., 1, 1]),
                       torch.atan2(matrix[..., 2, 1], matrix[..., 2, 2]))
    yaw = torch.where(locked, torch.zeros_like(pitch), torch.atan2(matrix[..., 1, 0], matrix[..., 0, 0]))
    return torch.stack([roll, pitch, yaw], dim=-1)


def apply_delta_pose(pose: Tensor, action: Tensor) -> Tensor:
    """The pose after ``action`` (both (..., 7)): position plus the position change, the rotation change composed on
    the left of the rotation, the gripper plus its change clipped to [0, 1] — V-JEPA 2-AC's planner's pose update."""
    rotation = euler_xyz_to_matrix(action[..., 3:6]) @ euler_xyz_to_matrix(pose[..., 3:6])
    gripper = (pose[..., 6:] + action[..., 6:]).clamp(0.0, 1.0)
    return torch.cat([pose[..., :3] + action[..., :3], matrix_to_euler_xyz(rotation), gripper], dim=-1)


def pose_delta(pose: Tensor, next_pose: Tensor) -> Tensor:
    """The action (..., 7) that takes ``pose`` to ``next_pose`` (both (..., 7)): position change, rotation change
    R_next R^T as Euler angles, gripper change — V-JEPA 2-AC's actions from a robot's end-effector poses (its
    ``poses_to_diffs``). ``apply_delta_pose(pose, pose_delta(pose, next_pose))`` is ``next_pose`` (gripper in
    [0, 1])."""
    rotation = euler_xyz_to_matrix(next_pose[..., 3:6]) @ euler_xyz_to_matrix(pose[..., 3:6]).transpose(-1, -2)
    return torch.cat([next_pose[..., :3] - pose[..., :3], matrix_to_euler_xyz(rotation),
                      next_pose[..., 6:] - pose[..., 6:]], dim=-1)
