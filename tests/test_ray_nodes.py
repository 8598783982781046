"""The Ray backend when a machine of the cluster is lost: a two-node Ray on this machine (ray.cluster_utils,
Ray's own way to test several nodes on one host), the web host's node without CPUs so that every run trains on
the other, which declares two GPUs — Ray schedules by declared resources, so the runs ask for a GPU each as on a
GPU machine, and train on the CPU because PyTorch finds no CUDA there. Removing that node kills both runs'
processes at once, as a machine that loses power would."""
import tempfile
import time

import pytest

ray = pytest.importorskip("ray", reason="the Ray backend's tests need Ray: pip install -r requirements-ray.txt")
from ray.cluster_utils import Cluster  # noqa: E402

from cnncalc.train import ray_backend  # noqa: E402
from cnncalc.train.config import TrainConfig  # noqa: E402
from cnncalc.train.store import RunStore  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    node = c.add_node(num_cpus=1, num_gpus=2)
    ray_backend.connect(c.address)
    try:
        yield c, node
    finally:
        ray.shutdown()
        c.shutdown()


def until(dispatcher, predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        dispatcher.step()
        time.sleep(0.2)


def test_losing_a_machine_interrupts_its_runs_and_the_queue_waits_for_another(cluster):
    c, node = cluster
    store = RunStore(tempfile.mkdtemp())
    cfg = TrainConfig(data="synthetic", limit=1000, test_limit=200, epochs=15, batch_size=32)
    ids = [store.enqueue(cfg, owner=owner) for owner in ("ann", "bob", "cy")]
    d = ray_backend.Dispatcher(store, ray_backend.Resources(gpus=1, cpus=0), checkpoint_seconds=0)
    assert d.slots() == 2  # 2 GPUs ÷ 1 per run: the third run stays queued
    while d.claim():
        pass
    assert sorted(d.flights) == ids[:2] and store.get(ids[2]).status == "queued"
    until(d, lambda: all(store.get(i).resume_epoch >= 2 for i in ids[:2]), 180, "a checkpoint of epoch 2 each")
    assert sorted(store.get(i).device.rsplit(" · ", 1)[1] for i in ids[:2]) == ["GPU 0", "GPU 1"]  # one GPU each
    before = {i: store.epochs(i) for i in ids[:2]}
    c.remove_node(node)
    lost = time.monotonic()
    until(d, lambda: not d.flights, 60, "both runs to be recorded")
    assert time.monotonic() - lost < 15
    for i in ids[:2]:
        run = store.get(i)
        assert run.status == "interrupted" and "was lost" in run.message, run.message
        assert store.epochs(i)[:len(before[i])] == before[i] and run.resume_epoch >= 2
        assert store.load_resume_state(run)["epoch"] == run.resume_epoch
    d._asked = float("-inf")  # ask the cluster again now rather than in RESOURCE_SECONDS
    assert d.slots() == 0 and not d.claim() and store.get(ids[2]).status == "queued"
    spare = c.add_node(num_cpus=1, num_gpus=1)  # a machine joins: the waiting run starts on it
    end = time.monotonic() + 60
    while not d.claim():
        assert time.monotonic() < end, "the new machine's GPU was never offered"
        d._asked = float("-inf")
        time.sleep(0.5)
    assert list(d.flights) == [ids[2]]
    until(d, lambda: store.get(ids[2]).finished, 240, "the third run to finish on the new machine")
    assert store.get(ids[2]).status == "done" and len(store.epochs(ids[2])) == 15

    # the warm actor of that run waits for the next one; its machine leaves meanwhile. The next run, handed to
    # the dead actor before the dispatcher knows, has reported nothing: it is queued again, not interrupted
    assert len(d.idle) == 1
    c.remove_node(spare)
    small = store.enqueue(cfg.replace(epochs=2), owner="dee")
    d._asked = time.monotonic()  # the cluster's size as last seen: the dead actor still counts as room
    assert d.claim() and list(d.flights) == [small]
    until(d, lambda: not d.flights, 60, "the lost actor to be noticed")
    run = store.get(small)
    assert run.status == "queued" and store.epochs(small) == [] and run.device == ""
    c.add_node(num_cpus=1, num_gpus=1)
    end = time.monotonic() + 60
    while not d.claim():
        assert time.monotonic() < end, "the third machine's GPU was never offered"
        d._asked = float("-inf")
        time.sleep(0.5)
    until(d, lambda: store.get(small).finished, 120, "the queued-again run to finish")
    assert store.get(small).status == "done" and len(store.epochs(small)) == 2


def test_a_cpu_run_sees_no_gpu_and_a_gpu_run_only_its_own(cluster):
    """On a machine with GPUs, an actor that reserved none must not see them (device "auto" would take one that
    another run holds); an actor that reserved one sees that one only."""
    cpu = ray_backend.RunActor.options(num_gpus=0, num_cpus=0.5).remote()
    gpu = ray_backend.RunActor.options(num_gpus=1, num_cpus=0.5).remote()
    cpu_place, gpu_place = ray.get([cpu.where.remote(), gpu.where.remote()], timeout=120)
    assert cpu_place["visible"] == "" and cpu_place["gpus"] == [] and not cpu_place["cuda"]
    assert gpu_place["visible"] == gpu_place["gpus"][0] and len(gpu_place["gpus"]) == 1
