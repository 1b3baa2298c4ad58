"""CRE inside the runner: derived sources, the seq2item and id2item batches and losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import omnivec
from omnivec.training.collator import SAILCollator
from omnivec.training.cre import CRESpec, load_id_tables, prepare_cre
from omnivec.training.data import TrainingData
from omnivec.training.recipe import recipe_from_dict
from omnivec.training.run import build_objective


@pytest.fixture(scope="module")
def cre_setup(tiny_world, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    model = omnivec.build("tiny", seed=0).eval()
    data = TrainingData(tiny_world)
    spec = CRESpec(id_teacher={"dim": 8, "epochs": 3}, content_filter="tokens")
    prepare_cre(spec, data, model, run_dir, echo=lambda s: None)
    recipe = recipe_from_dict({
        "name": "t", "data": str(tiny_world), "output_dir": str(run_dir), "cre": spec.model_dump(),
        "stages": [{"name": "CRE", "sources": ["seq2item", "id2item"], "steps": 1}],
    })  # fmt: skip
    return model, data, recipe, run_dir


def test_derived_sources_are_registered_and_valid(cre_setup):
    _, data, _, run_dir = cre_setup
    assert {"seq2item", "id2item"} <= set(data.source_names)
    seq = data.source("seq2item")
    assert seq.config.query == "items" and len(seq.rows) > 10
    assert all(1 <= len(r["query_items"]) <= 10 for r in seq.rows)
    ids = data.source("id2item")
    tables = load_id_tables(CRESpec(), run_dir)
    assert all(r["query_item"] in tables["teacher"] for r in ids.rows)


def test_seq2item_batch_uses_history_mean_and_learns_the_target(cre_setup):
    model, data, recipe, _ = cre_setup
    objective = build_objective(model, recipe, data, recipe.stages[0])
    batch = SAILCollator(model, data)([{"source": "seq2item", "row": i} for i in range(8)])
    assert batch["kind"] == "seq2item"
    index = batch["history"]["index"]
    assert index.shape[0] == 8 and (index >= 0).sum(1).min() >= 1
    # the mean-pool encoder sees exactly the rows' history embeddings
    hist = objective.embed(batch["history"]["features"])
    mask = index >= 0
    seq = objective.sequence_encoder(hist[index.clamp(min=0)] * mask.unsqueeze(-1), mask)
    manual = torch.stack([hist[index[b][mask[b]]].mean(0) for b in range(8)])
    torch.testing.assert_close(seq, torch.nn.functional.normalize(manual, dim=-1), atol=1e-5, rtol=1e-4)
    out = objective(batch)
    out["loss"].backward()
    assert objective.loss.nce_mrl.log_temperature["seq2item"].grad is not None
    fusion_grads = [p.grad for p in model.fusion.parameters() if p.grad is not None]
    assert fusion_grads, "the target side trains the model"
    model.zero_grad()


def test_id2item_aligns_a_projection_to_the_id_space(cre_setup):
    model, data, recipe, run_dir = cre_setup
    tables = load_id_tables(recipe.cre, run_dir)
    objective = build_objective(model, recipe, data, recipe.stages[0], tables)
    batch = SAILCollator(model, data, id_tables=tables)([{"source": "id2item", "row": i} for i in range(16)])
    assert batch["kind"] == "id2item" and batch["id_mask"]["teacher"].all()
    opt = torch.optim.Adam(objective.id_head.parameters(), lr=0.05)
    with torch.no_grad():
        emb = objective.embed(batch["target"]["features"])
    losses = []
    for _ in range(60):
        loss = objective.id_head(emb, batch["id_vectors"], batch["id_mask"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert np.isfinite(losses).all()


def test_embedding_content_filter_embeds_only_the_items_it_compares(tiny_model, tiny_world, tmp_path):
    from omnivec.recsys.interests import InterestConfig, content_filter_item_ids

    calls: list[int] = []

    class Counting:
        def encode_items(self, items, **kw):
            calls.append(len(items))
            return tiny_model.encode_items(items, **kw)

        def state_dict(self):  # the embeddings' weights fingerprint is the wrapped model's
            return tiny_model.state_dict()

    data = TrainingData(tiny_world)
    spec = CRESpec(id_teacher={"dim": 8, "epochs": 1}, content_filter="embeddings")
    stats = prepare_cre(spec, data, Counting(), tmp_path, echo=lambda s: None)
    assert stats["seq2item"]["content_similarity"] == "embedding_cosine"
    assert stats["seq2item"]["per_perspective"]["content_single_peak"] > 0
    needed = content_filter_item_ids(tiny_world, InterestConfig())
    assert calls == [len(needed)] and len(needed) < len(data.store)


def test_frozen_histories_are_embedded_once_and_equal_live_ones(tiny_world, tmp_path):
    from omnivec.training.cre import load_item_embeddings

    model = omnivec.build("tiny", seed=0).eval()
    data = TrainingData(tiny_world)
    spec = CRESpec(id_teacher={"dim": 8, "epochs": 1}, content_filter="tokens", history="frozen")
    prepare_cre(spec, data, model, tmp_path, echo=lambda s: None)
    memo = load_item_embeddings(tmp_path)
    seq = data.source("seq2item")
    needed = {i for r in seq.rows for i in r["query_items"]}
    assert needed <= set(memo) and len(memo) == len(needed)  # history items only: no content filter here
    recipe = recipe_from_dict({
        "name": "t", "data": str(tiny_world), "output_dir": str(tmp_path), "cre": spec.model_dump(),
        "stages": [{"name": "CRE", "sources": ["seq2item"], "steps": 1}],
    })  # fmt: skip
    objective = build_objective(model, recipe, data, recipe.stages[0])
    rows = [{"source": "seq2item", "row": i} for i in range(8)]
    live = SAILCollator(model, data)(rows)
    frozen = SAILCollator(model, data, history_vectors=memo)(rows)
    assert "features" not in frozen["history"] and frozen["history"]["vectors"].shape[1] == model.dimension
    torch.testing.assert_close(frozen["history"]["index"], live["history"]["index"])
    with torch.no_grad():  # the memo's rows are the model's own embeddings of the history items
        torch.testing.assert_close(
            frozen["history"]["vectors"], objective.embed(live["history"]["features"]), atol=1e-5, rtol=1e-4
        )
        torch.testing.assert_close(objective(frozen)["loss"], objective(live)["loss"], atol=1e-5, rtol=1e-4)
    out = objective(frozen)
    out["loss"].backward()
    assert any(p.grad is not None for p in model.fusion.parameters()), "the target side still trains"
    model.zero_grad()
    # a history item the memo lacks is left out of its row, as an undecodable one is
    first = seq.rows[0]["query_items"]
    partial = {k: v for k, v in memo.items() if k != first[0]}
    batch = SAILCollator(model, data, history_vectors=partial)(rows[:1])
    assert int((batch["history"]["index"] >= 0).sum()) == sum(i != first[0] for i in first)


def test_centred_sequence_encoder_is_centred_on_the_cre_item_embeddings(tiny_world, tmp_path):
    from omnivec.errors import ConfigError
    from omnivec.training.cre import load_item_embeddings

    model = omnivec.build("tiny", seed=0).eval()
    data = TrainingData(tiny_world)
    spec = CRESpec(
        id_teacher={"dim": 8, "epochs": 1}, content_filter="tokens", sequence_encoder={"kind": "centred"}
    )
    prepare_cre(spec, data, model, tmp_path, echo=lambda s: None)
    memo = load_item_embeddings(tmp_path)  # live histories, yet the history items are embedded for the centre
    assert {i for r in data.source("seq2item").rows for i in r["query_items"]} <= set(memo)
    recipe = recipe_from_dict({
        "name": "t", "data": str(tiny_world), "output_dir": str(tmp_path), "cre": spec.model_dump(),
        "stages": [{"name": "CRE", "sources": ["seq2item"], "steps": 1}],
    })  # fmt: skip
    with pytest.raises(ConfigError, match="centred"):
        build_objective(model, recipe, data, recipe.stages[0])  # no item embeddings: no centre to take
    objective = build_objective(model, recipe, data, recipe.stages[0], item_emb=memo)
    centre = np.mean(np.stack(list(memo.values())), axis=0)
    np.testing.assert_allclose(objective.sequence_encoder.centre.numpy(), centre, atol=1e-6)
    batch = SAILCollator(model, data)([{"source": "seq2item", "row": i} for i in range(8)])
    out = objective(batch)
    out["loss"].backward()
    assert any(p.grad is not None for p in model.fusion.parameters())
    model.zero_grad()


def test_ridge_start_distils_from_the_first_step(cre_setup):
    model, data, recipe, run_dir = cre_setup
    from omnivec.training.cre import ItemEmbeddings, items_path

    tables = load_id_tables(recipe.cre, run_dir)
    ids = sorted(tables["teacher"])
    memo = ItemEmbeddings(items_path(run_dir).with_name("ridge_test.parquet"), model, data)
    got, emb = memo.get(ids)
    item_emb = dict(zip(got, emb, strict=True))
    batch = SAILCollator(model, data, id_tables=tables)([{"source": "id2item", "row": i} for i in range(16)])
    ridge = recipe.model_copy(update={"cre": recipe.cre.model_copy(update={"id_init": "ridge"})})
    with torch.no_grad():
        start = {
            init: build_objective(model, r, data, r.stages[0], tables, item_emb)(batch)["loss"].item()
            for init, r in (("random", recipe), ("ridge", ridge))
        }
    assert start["ridge"] < 0.8 * start["random"], start


def test_cre_spec_refuses_gradients_through_frozen_histories():
    with pytest.raises(ValueError, match=r"sequence_grad needs cre\.history: live"):
        CRESpec(history="frozen", sequence_grad=True)


def test_sampling_correction_gives_each_target_its_log_share(cre_setup):
    model, data, _, _ = cre_setup
    rows = data.source("seq2item").rows
    collator = SAILCollator(model, data, sampling_correction=True)
    batch = collator([{"source": "seq2item", "row": i} for i in range(8)])
    targets = [rows[i]["target_item"] for i in range(8)]  # every target of the tiny world decodes
    share = [sum(r["target_item"] == t for r in rows) / len(rows) for t in targets]
    torch.testing.assert_close(batch["target_log_q"], torch.tensor(np.log(share), dtype=torch.float32))
    assert "target_log_q" not in SAILCollator(model, data)([{"source": "seq2item", "row": 0}])


def test_seq_target_id_weight_adds_the_targets_id_distillation(cre_setup):
    """With ``cre.seq_target_id_weight`` a seq→item step also distils its targets onto the ID tables:
    the loss is the seq→item NCE plus weight × the ID alignment of the same target embeddings."""
    model, data, recipe, run_dir = cre_setup
    tables = load_id_tables(recipe.cre, run_dir)
    rows = [{"source": "seq2item", "row": i} for i in range(8)]
    batch = SAILCollator(model, data, id_tables=tables)(rows)
    targets = [data.source("seq2item").rows[i]["target_item"] for i in range(8)]
    expected_mask = [t in tables["teacher"] for t in targets]
    assert batch["id_mask"]["teacher"].tolist() == expected_mask and any(expected_mask)
    assert "id_vectors" not in SAILCollator(model, data)(rows)  # no ID tables in the stage: nothing attached
    joint = recipe.model_copy(update={"cre": recipe.cre.model_copy(update={"seq_target_id_weight": 0.5})})
    torch.manual_seed(0)
    plain = build_objective(model, recipe, data, recipe.stages[0], tables)
    torch.manual_seed(0)  # the same random ID projection in both objectives
    both = build_objective(model, joint, data, joint.stages[0], tables)
    with torch.no_grad():
        a, b = plain(batch), both(batch)
        target = both.embed(batch["target"]["features"])
        id_loss = both.id_head(target, batch["id_vectors"], batch["id_mask"])
    assert "loss/seq_target_id" not in a
    torch.testing.assert_close(b["loss/seq_target_id"], id_loss)
    torch.testing.assert_close(b["loss"], a["loss"] + 0.5 * id_loss)
    assert id_loss > 0


def test_negative_queue_is_first_in_first_out_and_bounded():
    from omnivec.training.objective import NegativeQueue

    queue = NegativeQueue(5)
    assert len(queue) == 0 and queue.negatives(3) == {}
    for step in range(3):  # three batches of 2: ids 0..5, newest first in the memory
        vectors = torch.full((2, 4), float(step), requires_grad=True)
        queue.push(vectors, torch.tensor([2 * step, 2 * step + 1]))
    assert len(queue) == 5 and not queue.vectors.requires_grad
    assert queue.groups.tolist() == [4, 5, 2, 3, 0]  # the oldest (id 1) fell out
    neg = queue.negatives(3)
    assert neg["hard_negatives"].shape == (3, 5, 4) and neg["hard_negative_groups"].shape == (3, 5)
    with pytest.raises(ValueError, match="size must be >= 1"):
        NegativeQueue(0)


def test_negative_queue_adds_earlier_targets_as_negatives_except_the_positive(cre_setup):
    """With ``cre.negative_queue`` each seq→item query also meets the last N targets: the loss equals the NCE
    with those embeddings as extra negatives, a memory entry of the query's own target item is masked out, and
    only training steps fill the memory."""
    model, data, recipe, _ = cre_setup
    queued = recipe.model_copy(update={"cre": recipe.cre.model_copy(update={"negative_queue": 64})})
    objective = build_objective(model, queued, data, queued.stages[0])
    assert objective.queue is not None and objective.queue.size == 64
    first = SAILCollator(model, data)([{"source": "seq2item", "row": i} for i in range(8)])
    second = SAILCollator(model, data)([{"source": "seq2item", "row": i} for i in range(8, 16)])
    objective.eval()
    with torch.no_grad():
        objective(first)
    assert len(objective.queue) == 0, "evaluation must not fill the memory"
    objective.train()
    objective.model.eval()  # a training step of the objective, without dropout, so embeddings repeat exactly
    with torch.no_grad():
        objective(first)
        memory = objective.embed(first["target"]["features"])
        assert len(objective.queue) == len(memory)
        torch.testing.assert_close(objective.queue.vectors, memory)
        out = objective(second)
        target = objective.embed(second["target"]["features"])
        index = second["history"]["index"]
        mask = index >= 0
        hist = second["history"]["vectors"] if "vectors" in second["history"] else objective.embed(
            second["history"]["features"])  # fmt: skip
        seq = objective.sequence_encoder(hist[index.clamp(min=0)] * mask.unsqueeze(-1), mask)
        groups = second["target_groups"]
        b, n = len(target), len(memory)
        expected = objective.loss.nce_mrl(
            seq, target, source="seq2item", target_groups=groups,
            hard_negatives=memory.unsqueeze(0).expand(b, n, -1),
            hard_negative_groups=first["target_groups"].unsqueeze(0).expand(b, n),
        )  # fmt: skip
        plain = objective.loss.nce_mrl(seq, target, source="seq2item", target_groups=groups)
    torch.testing.assert_close(out["loss/seq2item"], expected["loss"])
    assert out["loss/seq2item"] > plain["loss"], "more negatives, a larger loss at the same weights"
    # each query gains every memory entry except those of its own target item
    gained = (first["target_groups"][None, :] != groups[:, None]).sum(1).float().mean()
    torch.testing.assert_close(out["seq2item/negatives"], plain["negatives_per_query"] + gained)
    assert len(objective.queue) == 16 and objective.queue.groups[:8].tolist() == groups.tolist()


def test_negative_queue_refuses_sampling_correction():
    with pytest.raises(ValueError, match=r"negative_queue and cre\.sampling_correction do not combine"):
        CRESpec(negative_queue=64, sampling_correction=True)


def test_a_learned_sequence_encoder_trains_across_stages_and_is_saved_with_the_model(tiny_world, tmp_path):
    from omnivec.evaluation.embedders import OmniEmbedder
    from omnivec.evaluation.tasks import evaluate
    from omnivec.recsys.alignment import build_sequence_encoder
    from omnivec.recsys.sequence_io import SequenceVectors, load_sequence_encoder
    from omnivec.training.run import CRE_STATE, restore_objective, train_recipe

    enc_cfg = {"kind": "transformer", "dim": 32, "heads": 4, "layers": 1}
    recipe = recipe_from_dict({
        "name": "t", "data": str(tiny_world), "output_dir": str(tmp_path / "run"), "model": {"arch": "tiny"},
        "batch_size": 8, "save_steps": 1,
        "cre": {"id_teacher": {"dim": 8, "epochs": 1}, "content_filter": "tokens", "sequence_encoder": enc_cfg},
        "stages": [{"name": "S1", "sources": ["seq2item"], "steps": 2, "lr": 1e-3},
                   {"name": "S2", "sources": ["seq2item"], "steps": 2, "lr": 1e-3}],
    })  # fmt: skip
    model_dir = train_recipe(recipe, progress=False, echo=lambda s: None)
    first = load_sequence_encoder(tmp_path / "run" / "stage1-S1" / "final")
    last = load_sequence_encoder(model_dir)
    assert first is not None and last is not None

    def distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
        with torch.no_grad():
            return float(
                sum((p - q).pow(2).sum() for p, q in zip(a.parameters(), b.parameters(), strict=True))
            )

    torch.manual_seed(123)
    fresh = build_sequence_encoder(enc_cfg)
    assert 0 < distance(last, first) < distance(first, fresh), "stage 2 goes on from stage 1's encoder"

    # a resumed stage gets the encoder back from its checkpoint
    ckpt = tmp_path / "run" / "stage2-S2" / "checkpoint-2"
    assert (ckpt / CRE_STATE).is_file()
    objective = build_objective(omnivec.build("tiny", seed=0), recipe, TrainingData(tiny_world), recipe.stages[1],
                                sequence_encoder=build_sequence_encoder(enc_cfg))  # fmt: skip
    restore_objective(objective, ckpt)
    assert distance(objective.sequence_encoder, last) == pytest.approx(0.0, abs=1e-12)

    # the evaluation's seq2item user vector is the trained encoder's
    embedder = OmniEmbedder(omnivec.load(model_dir, device="cpu"), sequence_encoder=last)
    assert isinstance(embedder.embed_sequence, SequenceVectors)
    res = evaluate(embedder, tiny_world, tasks=["seq2item"], progress=False)
    assert res["_meta"]["user_vector"] == "trained transformer sequence encoder"
    assert 0.0 <= res["seq2item"]["recall@10"] <= 1.0


def test_refreshed_histories_follow_the_model_and_refresh_on_schedule(tiny_world, tmp_path):
    from types import SimpleNamespace

    from omnivec.training.cre import HistoryVectors, history_item_ids, load_item_embeddings
    from omnivec.training.run import PeriodicRefresh

    model = omnivec.build("tiny", seed=0).eval()
    data = TrainingData(tiny_world)
    spec = CRESpec(id_teacher={"dim": 8, "epochs": 1}, content_filter="tokens", history="frozen",
                   history_refresh_every=2)  # fmt: skip
    prepare_cre(spec, data, model, tmp_path, echo=lambda s: None)
    start = load_item_embeddings(tmp_path)
    vectors = HistoryVectors(model, data, tmp_path, start)
    ids = history_item_ids(tmp_path)
    assert set(ids) == {i for r in data.source("seq2item").rows for i in r["query_items"]}
    assert set(vectors) == set(start) and vectors is not start
    vectors.refresh()
    assert vectors.refreshes == 0, "the weights that embedded the CRE start's rows: nothing to re-embed"
    with torch.no_grad():  # the weights move, as training moves them
        for p in model.fusion.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.train()
    vectors.refresh()
    assert model.training, "refresh restores the training mode"
    assert vectors.refreshes == 1
    now = model.encode_items([data.store.item(i) for i in ids], task="i2i", side="target")
    got = np.stack([vectors[ids[k]] for k in now.indices])
    np.testing.assert_allclose(got, now.embeddings, atol=1e-5)
    assert np.abs(got - np.stack([start[ids[k]] for k in now.indices])).max() > 1e-3
    rows = [{"source": "seq2item", "row": i} for i in range(4)]
    batch = SAILCollator(model, data, history_vectors=vectors)(rows)  # the collator reads the refreshed rows
    first = next(i for i in data.source("seq2item").rows[0]["query_items"] if i in vectors)
    np.testing.assert_allclose(batch["history"]["vectors"][0].numpy(), vectors[first], atol=1e-6)

    calls: list[int] = []
    callback = PeriodicRefresh(2, lambda: calls.append(state.global_step), at_start=True)
    state = SimpleNamespace(global_step=0, max_steps=5)
    callback.on_train_begin(None, state, None)  # at the start (after a resume loaded its checkpoint)
    for step in range(1, 6):
        state.global_step = step
        callback.on_step_end(None, state, None)
    assert calls == [0, 2, 4]
    calls.clear()  # hard-negative mining has mined once before training: no call at the start
    callback = PeriodicRefresh(2, lambda: calls.append(state.global_step))
    state.global_step = 0
    callback.on_train_begin(None, state, None)
    assert calls == []


def test_history_refresh_needs_frozen_histories():
    with pytest.raises(ValueError, match="history_refresh_every"):
        CRESpec(history="live", history_refresh_every=10)
