"""The 'Why convolutions' demos (cnncalc.classroom.demos) against PyTorch and hand-worked arithmetic."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncalc.classroom import demos
from cnncalc.classroom.samples import load_sample
from conftest import SHARED

CIFAR = SHARED / "data" / "cifar10-jpeg"


@pytest.fixture(scope="module")
def cat():
    return load_sample("cat (chelsea)", 48)


# --- 1. translation equivariance ----------------------------------------------------------------------

def test_shift_by_hand():
    x = np.arange(1, 10, dtype=float).reshape(3, 3)
    assert demos.shift(x, 1, 0).tolist() == [[0, 0, 0], [1, 2, 3], [4, 5, 6]]
    assert demos.shift(x, 0, -1).tolist() == [[2, 3, 0], [5, 6, 0], [8, 9, 0]]
    assert demos.shift(x, -1, 2, "circular").tolist() == np.roll(x, (-1, 2), (0, 1)).tolist()
    assert not demos.shift(x, 3, 0).any()


def test_interior_by_hand():
    # k=5, one layer: 2 px before and after; shift 4 down on 64 rows → rows 6 … 61
    assert demos.interior(64, 4, 2, 2) == (6, 62)
    assert demos.interior(64, -3, 2, 2) == (2, 59)
    assert demos.interior(64, 4, 1, 2) == (5, 62)   # k=4: 1 before, 2 after
    assert demos.interior(64, 40, 20, 20) == (60, 60)  # nothing left
    assert demos.interior(64, 7, 2, 2, "circular") == (0, 64)


@pytest.mark.parametrize("dy,dx,k,layers,padding", [(0, 0, 3, 1, "zeros"), (3, -5, 3, 1, "zeros"),
                                                    (-7, 2, 5, 1, "zeros"), (4, 6, 4, 2, "zeros"),
                                                    (1, 1, 7, 3, "zeros"), (5, -9, 5, 2, "circular"),
                                                    (-2, 11, 2, 1, "circular")])
def test_conv_commutes_with_shift_in_the_interior(cat, dy, dx, k, layers, padding):
    e = demos.equivariance(cat, dy, dx, k, layers, padding, gray=(k % 2 == 1), seed=k)
    before = layers * ((k - 1) // 2)
    assert e.reach == (before, layers * (k - 1) - before)
    assert e.interior_max < 1e-5 and e.conv_moved < 1e-5
    if (dy, dx) != (0, 0):
        assert e.fc_moved > 0.5  # a random fully-connected layer does not move its output with the input
        assert e.fc_changed > 0.1 and e.conv_changed > 0.1  # both outputs change; only the conv's is a move
    if padding == "zeros" and (dy, dx) != (0, 0):
        assert e.outside_max > 1e-3  # the border really differs: the interior is not decoration
    c, h, w = e.x.shape
    assert e.fc_weights == (c * h * w) * (h * w)
    assert e.box == (*demos.interior(h, dy, *e.reach, padding), *demos.interior(w, dx, *e.reach, padding))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("k,dy,dx,padding_mode", [(3, 2, -4, "zeros"), (5, -6, 3, "zeros"), (4, 5, 5, "zeros"),
                                                 (5, 3, 7, "circular")])
def test_pytorch_conv2d_oracle(cat, k, dy, dx, padding_mode):
    """torch.nn.Conv2d(padding='same'), x and shift x in separate calls: equal on demos.interior."""
    torch.manual_seed(k)
    conv = torch.nn.Conv2d(3, 6, k, padding="same", padding_mode=padding_mode)
    x = demos.as_float(cat) - 0.5
    mode = "circular" if padding_mode == "circular" else "zeros"
    with torch.no_grad():
        out = conv(torch.tensor(x[None], dtype=torch.float32))[0].numpy()
        out_s = conv(torch.tensor(demos.shift(x, dy, dx, mode)[None], dtype=torch.float32))[0].numpy()
    before, after = (k - 1) // 2, k - 1 - (k - 1) // 2
    t, b = demos.interior(48, dy, before, after, mode)
    l, r = demos.interior(48, dx, before, after, mode)
    diff = np.abs(demos.shift(out, dy, dx, mode) - out_s)
    assert b > t and r > l
    assert diff[:, t:b, l:r].max() < 1e-5
    if mode == "zeros":
        assert diff.max() > 1e-3


def test_fc_changes_completely(cat):
    e = demos.equivariance(cat, 2, 2, 3, 1, "zeros")
    assert e.fc_moved > 0.5
    assert e.conv_moved < 1e-5


def test_picture_box_and_size():
    img = demos.picture(np.zeros((16, 16)), 0, 1, box=(2, 10, 3, 12), target=64)
    assert img.shape == (64, 64, 3)
    assert (img[8, 12:48] == (255, 40, 40)).all()  # top edge of the box: row 2·4, columns 3·4 … 12·4 − 1


# --- 2. pooling gives local invariance -----------------------------------------------------------------

HAND = np.array([[1, 9, 2, 0],
                 [3, 4, 6, 7],
                 [4, 4, 4, 8],
                 [4, 4, 4, 1]], dtype=float)


def _count(counts, pooling, s):
    c = next(c for c in counts if c.pooling == pooling and c.shift == s)
    return c.unchanged, c.total


def test_pool_counts_hand_made_right():
    """Shift right by ≤ 1 → 4×3 views: s=0 uses columns 1–3, s=1 columns 0–2; a 2×2 pool (floor) reads the
    first two columns of the view. Top window: s=0 {9,2,4,6} max 9 sum 21; s=1 {1,9,3,4} max 9 sum 17.
    Bottom window: all 4s both times (max 4, sum 16). → max 2/2 unchanged, average 1/2."""
    counts, maps = demos.pool_invariance(HAND, k=2, levels=1, shifts=[0, 1], direction="right")
    assert _count(counts, "max 2×2", 0) == (2, 2) and _count(counts, "avg 2×2", 0) == (2, 2)
    assert _count(counts, "max 2×2", 1) == (2, 2)
    assert _count(counts, "avg 2×2", 1) == (1, 2)
    assert maps[("avg 2×2", 1)].tolist() == [[False], [True]]


def test_pool_counts_hand_made_down():
    """Shift down by ≤ 1 → 3×4 views: s=0 rows 1–2, s=1 rows 0–1. Left: s=0 {3,4,4,4} max 4 sum 15, s=1
    {1,9,3,4} max 9 sum 17; right: s=0 {6,7,4,8} max 8 sum 25, s=1 {2,0,6,7} max 7 sum 15 → 0/2 and 0/2."""
    counts, _ = demos.pool_invariance(HAND, k=2, levels=1, shifts=[0, 1], direction="down")
    assert _count(counts, "max 2×2", 1) == (0, 2)
    assert _count(counts, "avg 2×2", 1) == (0, 2)


def test_views_move_the_content():
    v = demos.views(np.arange(20.0).reshape(4, 5), [0, 1, 2], "right")
    assert v[0].shape == v[2].shape == (4, 3)
    assert (v[1][:, 1:] == v[0][:, :-1]).all()  # content moved one pixel right


def test_constant_image_is_fully_invariant():
    p = demos.pooling_demo(np.full((40, 40), 7.0), k=2, direction="diagonal")
    assert all(c.fraction == 1.0 for c in p.counts)
    p3 = demos.pooling_demo(np.full((40, 40), 0.3), k=3)
    assert all(c.fraction == 1.0 for c in p3.counts)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_stacked_pools_against_pytorch(cat, mode):
    """Counts of demos (two stacked 2×2 pools) = counts from torch's 2×2 pool applied twice."""
    g = demos.gray_uint8(cat)
    counts, _ = demos.pool_invariance(g, 2, 2, range(4), "diagonal", modes=(mode,))
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    views = demos.views(g, range(4), "diagonal")
    ref = {s: pool(pool(torch.tensor(v[None, None]), 2), 2)[0, 0].numpy() for s, v in views.items()}
    for s in range(4):
        same = np.isclose(ref[s], ref[0], rtol=0, atol=1e-9)
        assert _count(counts, f"{mode} 2×2 → 2×2", s) == (int(same.sum()), same.size)


def test_pooling_demo_on_a_photo(cat):
    p = demos.pooling_demo(demos.gray_uint8(cat), k=2)
    t = p.table()
    assert set(t) == {"no pooling (pixels)", "max 2×2", "avg 2×2", "max 2×2 → 2×2", "avg 2×2 → 2×2"}
    assert all(row[0] == 1.0 for row in t.values())
    assert t["max 2×2"][1] > t["avg 2×2"][1]  # the max survives a 1-pixel shift more often than the mean
    assert t["max 2×2 → 2×2"][3] > t["max 2×2"][3]  # stacked pools tolerate larger shifts


# --- 3. shuffled pixels --------------------------------------------------------------------------------

def test_shuffle_is_one_permutation_for_all_images():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (5, 3, 8, 8), dtype=np.uint8)
    perm = demos.permutation(8, 8, seed=3)
    s = demos.shuffle_pixels(x, perm)
    assert sorted(perm.tolist()) == list(range(64)) and (perm != np.arange(64)).any()
    for i in range(5):
        for c in range(3):
            assert (s[i, c].ravel() == x[i, c].ravel()[perm]).all()  # same positions, channels together
    assert (demos.shuffle_pixels(s, np.argsort(perm)) == x).all()


def _check_shuffled(res, store):
    mlp, cnn = res.drop("MLP"), res.drop("CNN")
    assert abs(mlp) < 0.08, res.conclusion()
    assert cnn > abs(mlp), res.conclusion()
    assert "MLP" in res.conclusion() and "CNN" in res.conclusion()
    runs = {r.name: r for r in store.list()}
    assert set(runs) == {f"shuffled-pixels: {m}, {p}" for m in ("MLP", "CNN") for p in ("original", "shuffled")}
    assert all(r.status == "done" and len(store.epochs(r.id)) == len(res.runs[0].epochs) for r in runs.values())


@pytest.mark.slow
def test_shuffled_pixels_synthetic(tmp_path):
    """Four tiny runs on 800 synthetic images, 3 epochs (22–40 s on two busy CPU cores). Measured: MLP 68.0 %
    vs 67.5 %, CNN 91.5 % vs 30.5 % (the rings' frequency is a neighbourhood pattern; their tint is not)."""
    from cnncalc.train.store import RunStore

    store = RunStore(tmp_path)
    seen = []
    res = demos.shuffled_pixels_runs("synthetic", limit=800, epochs=3, store=store, owner="t", device="cpu",
                                     on_progress=lambda f, name: seen.append(f))
    assert seen and seen == sorted(seen) and seen[-1] <= 1.0
    _check_shuffled(res, store)


@pytest.mark.slow
@pytest.mark.skipif(not (CIFAR / "train").is_dir(), reason="needs ../shared/data/cifar10-jpeg (not in a user's clone)")
def test_shuffled_pixels_cifar10(tmp_path):
    from cnncalc.train.store import RunStore

    store = RunStore(tmp_path)
    """1,200 training / 400 test images, 3 epochs (≈ 60 s on two busy CPU cores). Measured: MLP 35.5 % vs
    36.2 %, CNN 33.2 % vs 27.5 %."""
    res = demos.shuffled_pixels_runs(str(CIFAR), limit=1200, test_limit=400, epochs=3, store=store, device="cpu")
    assert res.n_train == 1200 and res.n_test == 400
    _check_shuffled(res, store)


# --- 4. the parameter blow-up ---------------------------------------------------------------------------

def test_blow_up_megapixel():
    """1000×1000×1, k=10, weights only (biases not included): FC (10⁶)² = 10¹², locally connected
    10⁶·100 = 10⁸, shared 10·10 = 100; biases would add 10⁶ (one per output)."""
    b = demos.blow_up(1000, 1000, 1, 10)
    assert (b.fc, b.locally_connected, b.shared, b.biases) == (10**12, 10**8, 100, 10**6)
    assert b.bytes("fc") == 4 * 10**12
    assert b.formulas["fc"].endswith("1,000,000,000,000")
    assert demos.human(b.fc) == "10¹²" and demos.size(b.bytes("fc")) == "4.0 TB"
    # 3×3 image, k=3: FC (9)² = 81, shared 9 → 81 / 9 = 9, written as 9, not 9.0·10⁰
    assert [demos.human(x) for x in (81, 81 / 9, 2.5, 1000, 1500)] == ["81", "9", "2.5", "10³", "1.5·10³"]


def test_blow_up_rgb():
    """224×224×3, k=10: FC (150,528)² ; locally connected 224·224·(3·3·100) = 50,176·900 = 45,158,400;
    shared 3·3·100 = 900."""
    b = demos.blow_up(224, 224, 3, 10)
    assert b.fc == 150_528 ** 2 == 22_658_678_784
    assert b.locally_connected == 45_158_400 and b.shared == 900


def test_blow_up_matches_pytorch_parameter_counts():
    """Shared: a real nn.Conv2d (bias=False) has C·C·k·k parameters; FC: nn.Linear(HWC, HWC) has (HWC)²."""
    b = demos.blow_up(12, 10, 2, 3)
    assert b.shared == sum(p.numel() for p in torch.nn.Conv2d(2, 2, 3, padding="same", bias=False).parameters())
    assert b.fc == sum(p.numel() for p in torch.nn.Linear(240, 240, bias=False).parameters())
    assert b.locally_connected == 12 * 10 * b.shared


def test_shuffled_runs_follow_the_store_rules(tmp_path):
    """The demo's four runs go through the store like any run: the second identical request is served from the
    store (no new run), and the variant keeps a shuffled run from being taken for its original twin."""
    from cnncalc.server.identity import Identity
    from cnncalc.server.limits import Limits
    from cnncalc.train.store import QuotaExceeded, RunStore
    store, me = RunStore(tmp_path), Identity("s1", "Ada")
    first = demos.shuffled_pixels_runs("synthetic", 200, 100, 1, store=store, owner=me, device="cpu",
                                       limits=Limits())
    assert len(store.list()) == 4 and {r.status for r in store.list()} == {"done"}
    again = demos.shuffled_pixels_runs("synthetic", 200, 100, 1, store=store, owner=me, device="cpu",
                                       limits=Limits())
    assert len(store.list()) == 4  # nothing trained twice
    assert [r.run_id for r in again.runs] == [r.run_id for r in first.runs]
    assert [r.final for r in again.runs] == [r.final for r in first.runs]
    with pytest.raises(QuotaExceeded):  # the class's synthetic-data quota applies to the demo too
        demos.shuffled_pixels_runs("synthetic", 5000, 100, 1, store=store, owner=me, device="cpu",
                                   limits=Limits(synthetic_examples=1000))
