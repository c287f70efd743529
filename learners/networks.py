"""Networks trained by gradient descent: ``deep``, ``layerwise`` and ``two-layer``.

``deep`` and ``layerwise`` train the same network, which mirrors the target of
DESIGN.md section 2: ``depth`` levels of ``width`` units with the target's centred
quadratic activation, each level fed by the levels of its skip set (DenseNet
shape for ``dense``), and a linear read-out from every level into the output.
``deep`` trains every level at once; ``layerwise`` trains level 1 with its
read-out, freezes it, then level 2, and so on, with the same total step budget.

Every fit chooses its learning rate on a validation split carved from the
training sample (a short pilot run per candidate, the best one continues), and
keeps the weights of the step with the lowest validation loss (early stopping).
A non-finite training loss stops the fit at once with :class:`Diverged`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from bfcbench.errors import Diverged
from bfcbench.learners.base import VALIDATION_FRACTION, Learner
from bfcbench.params import AUTO, Param
from bfcbench.seeding import child, integer_seed
from bfcbench.tasks.hierarchical import SKIPS, skip_set

LEARNING_RATES = {"adam": (3e-3, 1e-3, 3e-4), "sgd": (0.1, 0.03, 0.01)}
DTYPES = {"float32": torch.float32, "float64": torch.float64}
PREDICT_BATCH = 8192

# Training rows used to standardise the levels at initialisation (init=standardised).
INIT_ROWS = 4096

# Multiply-adds of one minibatch through the first layer below which a network
# counts as small and trains on one thread (threads=auto).
SMALL_NETWORK_WORK = 1 << 22

# Depth and skip pattern of the network when the task has no hierarchy to mirror.
FALLBACK_DEPTH = 3
FALLBACK_SKIP = "dense"


class CentredQuadratic(nn.Module):
    """``(s**2 - 1) / sqrt(2)``: mean 0 and variance 1 for a standard normal s."""

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return (s * s - 1.0) * (1.0 / math.sqrt(2.0))


def make_activation(name: str) -> nn.Module:
    return CentredQuadratic() if name == "quadratic" else nn.ReLU()


class LevelNetwork(nn.Module):
    """The quadratic network of DenseNet shape that mirrors the target.

    Parameters
    ----------
    d : int
        Input dimension.
    depth : int
        Number of levels.
    width : int
        Units per level.
    skip : {"chain", "dense", "input"}
        Which lower levels feed each level (level 0 is the input).
    norm : {"batch", "none"}
        ``batch`` standardises each level before and after the activation with
        batch statistics (running averages at evaluation), as the target
        standardises its levels; it keeps the quadratic levels from blowing up.
    generator : torch.Generator
        Draws the initial weights.
    """

    def __init__(
        self,
        d: int,
        depth: int,
        width: int,
        skip: str,
        norm: str,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.sources = [skip_set(skip, level) for level in range(1, depth + 1)]
        self.mixers = nn.ModuleList()
        for sources in self.sources:
            fan_in = sum(d if source == 0 else width for source in sources)
            mixer = nn.Linear(fan_in, width, bias=False)
            nn.init.normal_(
                mixer.weight, std=1 / math.sqrt(fan_in), generator=generator
            )
            self.mixers.append(mixer)
        self.pre_norms = nn.ModuleList(_norm(norm, width) for _ in range(depth))
        self.post_norms = nn.ModuleList(_norm(norm, width) for _ in range(depth))
        self.activation = CentredQuadratic()
        # Read-outs start at zero: the initial function is 0 and a level only
        # enters the output once training gives it a weight.
        self.readouts = nn.ParameterList(
            nn.Parameter(torch.zeros(width)) for _ in range(depth)
        )
        self.bias = nn.Parameter(torch.zeros(()))
        self.register_buffer("readout_mask", torch.ones(depth))

    @torch.no_grad()
    def standardise_(self, x: torch.Tensor) -> None:
        """Rescale each level's weights so its pre-activations have unit variance
        on ``x`` of shape (n, d), level by level from the bottom.

        The target standardises every level; without this, the random network's
        own quadratic levels grow heavy tails with depth (at depth 4 its top
        level reached values in the hundreds), and training from there failed.
        With fewer than two rows there is no variance to measure, and the
        weights stay as drawn.
        """
        if len(x) < 2:
            return
        outputs = [x]
        for sources, mixer, pre, post in zip(
            self.sources, self.mixers, self.pre_norms, self.post_norms, strict=True
        ):
            inputs = torch.cat([outputs[source] for source in sources], dim=1)
            scale = mixer(inputs).std(dim=0).clamp_min(1e-8)
            mixer.weight.div_(scale[:, None])
            outputs.append(post(self.activation(pre(mixer(inputs)))))

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Learned level representations, each of shape (n, width)."""
        outputs = [x]
        for sources, mixer, pre, post in zip(
            self.sources, self.mixers, self.pre_norms, self.post_norms, strict=True
        ):
            inputs = torch.cat([outputs[source] for source in sources], dim=1)
            outputs.append(post(self.activation(pre(mixer(inputs)))))
        return outputs[1:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bias.expand(len(x))
        for mask, readout, level in zip(
            self.readout_mask, self.readouts, self.levels(x), strict=True
        ):
            out = out + mask * (level @ readout)
        return out


class TwoLayerNetwork(nn.Module):
    """One hidden layer: ``readout . act(W x + b) + bias``."""

    def __init__(
        self, d: int, width: int, activation: str, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.hidden = nn.Linear(d, width)
        nn.init.normal_(self.hidden.weight, std=1 / math.sqrt(d), generator=generator)
        nn.init.zeros_(self.hidden.bias)
        self.activation = make_activation(activation)
        self.readout = nn.Linear(width, 1)
        nn.init.normal_(
            self.readout.weight, std=1 / math.sqrt(width), generator=generator
        )
        nn.init.zeros_(self.readout.bias)

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.activation(self.hidden(x))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.levels(x)[0])[:, 0]


def _norm(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(width, affine=False)
    return nn.Identity()


@dataclass
class Split:
    """Training tensors: the fitting part and the validation part."""

    X_fit: torch.Tensor
    y_fit: torch.Tensor
    X_validation: torch.Tensor
    y_validation: torch.Tensor


class Trainer:
    """Minibatch training of some parameters of a model, with early stopping.

    Tracks the step with the lowest validation loss and its weights; a
    non-finite training loss raises :class:`Diverged` with the global step.
    """

    def __init__(
        self,
        model: nn.Module,
        parameters: list[nn.Parameter],
        split: Split,
        settings: dict[str, Any],
        learning_rate: float,
        batch_generator: torch.Generator,
        step_offset: int = 0,
        probe: Callable[[nn.Module], Any] | None = None,
    ) -> None:
        self.model = model
        self.split = split
        self.settings = settings
        self.learning_rate = learning_rate
        self.batch_generator = batch_generator
        self.step = step_offset
        self.parameters = parameters
        if settings["optimizer"] == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.AdamW(
                parameters, lr=learning_rate, weight_decay=settings["weight_decay"]
            )
        else:
            self.optimizer = torch.optim.SGD(
                parameters,
                lr=learning_rate,
                momentum=0.9,
                weight_decay=settings["weight_decay"],
            )
        self.probe = probe
        self.curve: list[tuple[int, Any]] = []
        self.best_step = step_offset
        self.best_loss = self.validation_loss()
        self.best_state = copy.deepcopy(model.state_dict())
        self.evaluations_since_best = 0
        self._batches = self._batch_indices()

    def _batch_indices(self) -> Iterator[torch.Tensor]:
        n_fit = len(self.split.X_fit)
        batch_size = min(self.settings["batch_size"], n_fit)
        while True:
            order = torch.randperm(n_fit, generator=self.batch_generator)
            for start in range(0, n_fit - batch_size + 1, batch_size):
                yield order[start : start + batch_size]

    def validation_loss(self) -> float:
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            residual = self.model(self.split.X_validation) - self.split.y_validation
            loss = float((residual * residual).mean())
        self.model.train(was_training)
        return loss

    def train(
        self,
        steps: int,
        frozen: list[nn.Module] | None = None,
        decay: bool = False,
    ) -> str:
        """Run up to ``steps`` steps; return why training stopped.

        With ``decay`` the learning rate follows a cosine from its value down to
        zero over these steps; otherwise it stays constant.
        """
        every = self.settings["eval_every"]
        patience = self.settings["patience"]
        self.model.train()
        for module in frozen or []:
            module.eval()
        for index in range(steps):
            if decay:
                factor = 0.5 * (1.0 + math.cos(math.pi * index / steps))
                for group in self.optimizer.param_groups:
                    group["lr"] = self.learning_rate * factor
            rows = next(self._batches).to(self.split.X_fit.device)
            residual = self.model(self.split.X_fit[rows]) - self.split.y_fit[rows]
            loss = (residual * residual).mean()
            self.step += 1
            if not torch.isfinite(loss):
                raise Diverged(
                    self.step, f"training loss became {float(loss)} at step {self.step}"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

            if self.step % every == 0:
                validation = self.validation_loss()
                if self.probe is not None:
                    self.curve.append((self.step, self.probe(self.model)))
                if validation < self.best_loss:
                    self.best_loss, self.best_step = validation, self.step
                    self.best_state = copy.deepcopy(self.model.state_dict())
                    self.evaluations_since_best = 0
                else:
                    self.evaluations_since_best += 1
                    if patience and self.evaluations_since_best >= patience:
                        return "early stop"
                for module in frozen or []:
                    module.eval()
        return "step budget"

    def restore_best(self) -> None:
        self.model.load_state_dict(self.best_state)


class NetworkLearner(Learner):
    """Shared machinery of the network learners."""

    training_params: ClassVar[tuple[Param, ...]] = (
        Param(
            "optimizer",
            str,
            "adam",
            "adam (AdamW) or sgd (momentum 0.9)",
            choices=("adam", "sgd"),
        ),
        Param(
            "learning_rate",
            float,
            AUTO,
            "step size; auto pilots a few on validation data",
            low=0,
            low_open=True,
            auto=True,
        ),
        Param(
            "lr_schedule",
            str,
            "cosine",
            "after the pilots: cosine decay to zero over the rest of the budget, "
            "or constant",
            choices=("cosine", "constant"),
        ),
        Param("steps", int, 4000, "optimisation steps (the whole budget)", low=1),
        Param("batch_size", int, 128, "minibatch size", low=1),
        Param("weight_decay", float, 1e-5, "weight decay", low=0),
        Param("eval_every", int, 100, "steps between validation evaluations", low=1),
        Param(
            "patience",
            int,
            10,
            "evaluations without improvement before stopping early; 0 never stops",
            low=0,
        ),
        Param(
            "pilot_fraction",
            float,
            0.1,
            "share of the budget each learning-rate pilot gets",
            low=0,
            high=1,
            low_open=True,
            high_open=True,
        ),
        Param(
            "dtype", str, "float32", "precision of the weights", choices=tuple(DTYPES)
        ),
        Param(
            "threads",
            int,
            AUTO,
            "torch threads while training; auto uses one for small networks on the CPU",
            low=1,
            auto=True,
        ),
        VALIDATION_FRACTION,
    )

    # Set by the runner to record feature recovery: probe(model) is called at
    # every validation evaluation of the training that is kept, and the
    # (step, result) pairs end up in ``self.curve_``.
    probe: Callable[[nn.Module], Any] | None = None

    def build(self, d: int, generator: torch.Generator) -> nn.Module:
        raise NotImplementedError

    def stages(
        self, model: nn.Module
    ) -> list[tuple[list[nn.Parameter], list[nn.Module], int]]:
        """Training stages: (parameters to train, modules kept frozen, levels read)."""
        raise NotImplementedError

    def fit(self, X: np.ndarray, y: np.ndarray) -> NetworkLearner:
        previous = torch.get_num_threads()
        threads = self.values["threads"]
        if threads == AUTO:
            # Small networks train faster on one thread: the cost of spreading
            # each small matrix product over threads exceeds the work, and on a
            # busy machine it was ten times slower.
            work = self.values["batch_size"] * X.shape[1] * self.values["width"]
            small = self.device == "cpu" and work <= SMALL_NETWORK_WORK
            threads = 1 if small else previous
        self.choices["torch_threads"] = threads
        torch.set_num_threads(threads)
        try:
            return self._fit(X, y)
        finally:
            torch.set_num_threads(previous)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> NetworkLearner:
        dtype = DTYPES[self.values["dtype"]]
        fit_rows, validation_rows = self.validation_split(len(X))
        X_all = torch.as_tensor(np.asarray(X), dtype=dtype, device=self.device)
        y_all = torch.as_tensor(np.asarray(y), dtype=dtype, device=self.device)
        split = Split(
            X_all[fit_rows],
            y_all[fit_rows],
            X_all[validation_rows],
            y_all[validation_rows],
        )

        init = torch.Generator().manual_seed(integer_seed(child(self.seed, 1)))
        batches = torch.Generator().manual_seed(integer_seed(child(self.seed, 2)))
        model = self.build(X_all.shape[1], init).to(device=self.device, dtype=dtype)
        # Centre the output on the training mean so the first steps fit structure.
        with torch.no_grad():
            _output_bias(model).fill_(float(split.y_fit.mean()))
        if self.values.get("init") == "standardised":
            model.standardise_(split.X_fit[:INIT_ROWS])

        n_stages = len(self.stages(model))
        steps_per_stage = _share(self.values["steps"], n_stages)
        self.choices["learning_rate"] = []
        self.curve_: list[tuple[int, Any]] = []
        reasons = []
        step = 0
        for index, stage_steps in enumerate(steps_per_stage):
            # Ask for the stage's parameters on the current model: an earlier
            # stage may have replaced it by the winning pilot's copy.
            parameters, frozen, levels_on = self.stages(model)[index]
            _set_readouts(model, levels_on)
            trainer = self._train_stage(
                model, parameters, frozen, split, batches, stage_steps, step
            )
            trainer.restore_best()
            model = trainer.model
            step = trainer.step
            reasons.append(trainer.stop_reason)
            self.curve_.extend(trainer.curve)
            self.choices["learning_rate"].append(trainer.learning_rate)
            self.choices.setdefault("best_step", []).append(trainer.best_step)
            self.choices.setdefault("validation_mse", []).append(trainer.best_loss)
        self.choices["steps_run"] = step
        self.choices["epochs_run"] = round(
            step * self.values["batch_size"] / len(fit_rows), 2
        )
        if n_stages == 1:
            for key in ("learning_rate", "best_step", "validation_mse"):
                self.choices[key] = self.choices[key][0]
        self.stop_reason = "; ".join(reasons)
        self.model_ = model.eval()
        return self

    def _train_stage(
        self,
        model: nn.Module,
        parameters: list[nn.Parameter],
        frozen: list[nn.Module],
        split: Split,
        batches: torch.Generator,
        steps: int,
        step_offset: int,
    ) -> Trainer:
        """Choose the learning rate by pilots, then train the winner to the budget.

        Each pilot trains a copy of the model from the same state, with the same
        minibatch order, for ``pilot_fraction`` of the stage at a constant rate;
        the pilot with the lowest validation loss continues with its optimiser
        state for the rest of the stage. Pilots that diverge are left out.
        """
        settings = self.values
        decay = settings["lr_schedule"] == "cosine"
        if settings["learning_rate"] != AUTO:
            trainer = self._trainer(
                model,
                parameters,
                split,
                settings["learning_rate"],
                batches,
                step_offset,
            )
            trainer.stop_reason = trainer.train(steps, frozen, decay=decay)
            return trainer

        pilot_steps = min(steps, max(1, round(settings["pilot_fraction"] * steps)))
        trials: dict[str, Any] = {}
        pilots = []
        for learning_rate in LEARNING_RATES[settings["optimizer"]]:
            trial_model = copy.deepcopy(model)
            trainer = self._trainer(
                trial_model,
                _same_parameters(model, trial_model, parameters),
                split,
                learning_rate,
                _copy_generator(batches),
                step_offset,
            )
            trial_frozen = _same_modules(model, trial_model, frozen)
            try:
                trainer.stop_reason = trainer.train(pilot_steps, trial_frozen)
            except Diverged as error:
                trials[f"{learning_rate:g}"] = f"diverged at step {error.step}"
                continue
            trials[f"{learning_rate:g}"] = trainer.best_loss
            pilots.append((trainer, trial_frozen))
        self.choices.setdefault("learning_rate_trials", []).append(trials)
        if not pilots:
            raise Diverged(
                step_offset + pilot_steps, "every learning-rate pilot diverged"
            )
        trainer, trial_frozen = min(pilots, key=lambda pilot: pilot[0].best_loss)
        if pilot_steps < steps:
            trainer.stop_reason = trainer.train(
                steps - pilot_steps, trial_frozen, decay=decay
            )
        return trainer

    def _trainer(
        self,
        model: nn.Module,
        parameters: list[nn.Parameter],
        split: Split,
        learning_rate: float,
        batches: torch.Generator,
        step_offset: int,
    ) -> Trainer:
        return Trainer(
            model,
            parameters,
            split,
            self.values,
            learning_rate,
            batches,
            step_offset,
            probe=self.probe,
        )

    def predict(self, X: np.ndarray) -> np.ndarray:
        dtype = next(self.model_.parameters()).dtype
        outputs = []
        with torch.no_grad():
            for start in range(0, len(X), PREDICT_BATCH):
                batch = torch.as_tensor(
                    np.asarray(X[start : start + PREDICT_BATCH]),
                    dtype=dtype,
                    device=self.device,
                )
                outputs.append(self.model_(batch).cpu().numpy())
        return np.concatenate(outputs).astype(np.float64) if outputs else np.zeros(0)


def _share(total: int, parts: int) -> list[int]:
    """Split ``total`` steps into ``parts`` near-equal stages, earlier ones longer."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def _output_bias(model: nn.Module) -> torch.Tensor:
    return model.bias if isinstance(model, LevelNetwork) else model.readout.bias


def _set_readouts(model: nn.Module, levels_on: int) -> None:
    if isinstance(model, LevelNetwork):
        mask = (
            torch.arange(len(model.readouts), device=model.readout_mask.device)
            < levels_on
        )
        model.readout_mask.copy_(mask.to(model.readout_mask.dtype))


def _same_parameters(
    original: nn.Module, clone: nn.Module, parameters: list[nn.Parameter]
) -> list[nn.Parameter]:
    """The clone's parameters that correspond to ``parameters`` of the original."""
    if clone is original:
        return parameters
    names = {id(p): name for name, p in original.named_parameters()}
    cloned = dict(clone.named_parameters())
    return [cloned[names[id(p)]] for p in parameters]


def _same_modules(
    original: nn.Module, clone: nn.Module, modules: list[nn.Module]
) -> list[nn.Module]:
    if clone is original:
        return modules
    names = {id(m): name for name, m in original.named_modules()}
    cloned = dict(clone.named_modules())
    return [cloned[names[id(m)]] for m in modules]


def _copy_generator(generator: torch.Generator) -> torch.Generator:
    twin = torch.Generator()
    twin.set_state(generator.get_state())
    return twin


class DeepNetwork(NetworkLearner):
    """The mirrored quadratic network, every level trained at once."""

    name: ClassVar[str] = "deep"
    version: ClassVar[int] = 1
    description: ClassVar[str] = (
        "quadratic network of DenseNet shape mirroring the target, all levels "
        "trained at once (end to end)"
    )
    structure_params: ClassVar[tuple[Param, ...]] = (
        Param(
            "depth",
            int,
            AUTO,
            "levels; auto mirrors the task's depth",
            low=1,
            high=32,
            auto=True,
        ),
        Param(
            "width",
            int,
            32,
            "units per level m (fewer than the task's width cannot represent it)",
            low=1,
        ),
        Param(
            "skip",
            str,
            AUTO,
            "skip pattern; auto mirrors the task's",
            choices=(*SKIPS, AUTO),
        ),
        Param(
            "init",
            str,
            "standardised",
            "standardised: rescale each level to unit pre-activation variance on "
            "training inputs before training; random: plain Gaussian weights",
            choices=("standardised", "random"),
        ),
        Param(
            "norm",
            str,
            "none",
            "standardise levels with batch statistics, or none",
            choices=("batch", "none"),
        ),
    )
    params: ClassVar[tuple[Param, ...]] = (
        *structure_params,
        Param(
            "schedule",
            str,
            "all",
            "all: every read-out on from the start; bottom-up: read-out of level l "
            "switched on after (l-1)/depth of the budget, all levels training",
            choices=("all", "bottom-up"),
        ),
        *NetworkLearner.training_params,
    )

    def _structure(self) -> tuple[int, str]:
        depth = self.values["depth"]
        if depth == AUTO:
            depth = int(self.task_shape.get("depth", FALLBACK_DEPTH))
        skip = self.values["skip"]
        if skip == AUTO:
            skip = str(self.task_shape.get("skip", FALLBACK_SKIP))
        self.choices.update(depth=depth, skip=skip)
        return depth, skip

    def build(self, d: int, generator: torch.Generator) -> nn.Module:
        depth, skip = self._structure()
        return LevelNetwork(
            d, depth, self.values["width"], skip, self.values["norm"], generator
        )

    def stages(
        self, model: nn.Module
    ) -> list[tuple[list[nn.Parameter], list[nn.Module], int]]:
        depth = len(model.readouts)
        everything = list(model.parameters())
        if self.values["schedule"] == "all":
            return [(everything, [], depth)]
        return [(everything, [], level) for level in range(1, depth + 1)]


class LayerwiseNetwork(DeepNetwork):
    """The same network, trained one level at a time with lower levels frozen.

    Stage ``l`` trains level ``l``'s weights and the read-outs of levels 1..l (a
    linear read-out of fixed features is a convex problem; freezing it too would
    only weaken the baseline). Levels below ``l`` are frozen, their batch
    statistics included.
    """

    name: ClassVar[str] = "layerwise"
    version: ClassVar[int] = 1
    description: ClassVar[str] = (
        "the deep network trained one level at a time, lower levels frozen, same "
        "total budget"
    )
    params: ClassVar[tuple[Param, ...]] = (
        *DeepNetwork.structure_params,
        *NetworkLearner.training_params,
    )

    def stages(
        self, model: nn.Module
    ) -> list[tuple[list[nn.Parameter], list[nn.Module], int]]:
        plan = []
        for level in range(1, len(model.readouts) + 1):
            index = level - 1
            parameters = [
                *model.mixers[index].parameters(),
                *model.pre_norms[index].parameters(),
                *model.post_norms[index].parameters(),
                *model.readouts[:level],
                model.bias,
            ]
            frozen = [
                module
                for lower in range(index)
                for module in (
                    model.mixers[lower],
                    model.pre_norms[lower],
                    model.post_norms[lower],
                )
            ]
            plan.append((parameters, frozen, level))
        return plan


class TwoLayer(NetworkLearner):
    """A two-layer network, all weights trained."""

    name: ClassVar[str] = "two-layer"
    version: ClassVar[int] = 1
    description: ClassVar[str] = (
        "one hidden layer (ReLU or quadratic), all weights trained"
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("width", int, 512, "hidden units", low=1),
        Param(
            "activation",
            str,
            "relu",
            "hidden activation",
            choices=("relu", "quadratic"),
        ),
        *NetworkLearner.training_params,
    )

    def build(self, d: int, generator: torch.Generator) -> nn.Module:
        return TwoLayerNetwork(
            d, self.values["width"], self.values["activation"], generator
        )

    def stages(
        self, model: nn.Module
    ) -> list[tuple[list[nn.Parameter], list[nn.Module], int]]:
        return [(list(model.parameters()), [], 1)]
