"""The world-model interface planners see: `WorldModel` (encode images, roll action sequences out in feature space)
and what a rollout returns (`Rollout`, defined beside the predictor that makes one).
`planning.toy.LinearToyWorldModel` is the smallest model that satisfies it; `vjepa.world_model.JEPAWorldModel` is
a trained one."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from torch import Tensor

from vjepa.models.ac_predictor import Rollout

if TYPE_CHECKING:
    from vjepa.data.ac_dataset import ActionAgg

__all__ = ["Rollout", "WorldModel"]


@runtime_checkable
class WorldModel(Protocol):
    """Anything that encodes images and rolls out action sequences in feature space.

    One predicted step spans ``frame_step`` env steps; ``action_agg`` says what one action of the model is over
    those steps: "sum" (the sum of the per-step actions), "stack" (the per-step actions concatenated) or
    "pose_delta" (the end-effector pose change over the step). ``image_size``: the side of the square frames the
    model was trained on (what an env should render)."""

    action_dim: int
    state_dim: int
    frame_step: int
    action_agg: ActionAgg
    image_size: int

    def encode(self, frames: Tensor) -> Tensor:
        """uint8 (B, H, W, 3) images -> features (B, N, D)."""
        ...

    def rollout(self, context_features: Tensor, context_states: Tensor, context_actions: Tensor,
                actions: Tensor) -> Rollout:
        """The context shared by all candidates — features (Tc, N, D), states (Tc, S) and the actions taken between
        those frames (Tc-1, A) — and candidate actions (K, H, A), the first taken at the context's last frame ->
        the `Rollout` of the next H steps. With a leading dim B on all four, B episodes' contexts each with their
        own K candidates -> a `Rollout` of (B, K, H, ...): the form planners call (`Planner.plan_batch`)."""
        ...
