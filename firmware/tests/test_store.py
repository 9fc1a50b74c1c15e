"""Flash queue: order, persistence across reboot, thinning with exact kWh."""

import store
from fakes import assert_eq


def line(seq, wh, stamped=True):
    t = (
        '"timestamp":"2026-11-27T10:00:%02dZ",' % (seq % 60)
        if stamped
        else '"mono":%d,"boot":1,' % (seq * 1000)
    )
    return '{"seq":%d,%s"voltage":230.0,"current":1.000,"power":230.0,"energy":%d.%03d}' % (
        seq,
        t,
        wh // 1000,
        wh % 1000,
    )


def test_fifo_and_survives_reboot():
    q = store.Store("q", 1000)
    for i in range(1, 121):
        q.append(line(i, i * 10))
    assert_eq(len(q), 120)
    q = store.Store("q", 1000)  # reboot: everything is still there, in order
    assert_eq(len(q), 120)
    got = []
    while len(q):
        batch = q.peek(20)
        got += [int(b.split(",")[0][7:]) for b in batch]
        q.drop(len(batch))
    assert_eq(got, list(range(1, 121)))
    assert_eq(store.Store("q", 1000).peek(5), [])


def test_partial_drop_persists():
    q = store.Store("q", 1000)
    for i in range(1, 11):
        q.append(line(i, i))
    q.drop(3)
    assert_eq(store.Store("q", 1000).peek(1), [line(4, 4)])


def test_thinning_keeps_bound_order_and_exact_energy():
    store.SEG_LEN = 10
    try:
        q = store.Store("q", 40)
        total = 0
        for i in range(1, 201):
            q.append(line(i, 1000 + i * 37))
            total += 1
        assert len(q) <= 40, len(q)
        assert_eq(q.thinned + len(q), total)
        q2 = store.Store("q", 40)  # thinned count survives reboot
        assert_eq(q2.thinned, q.thinned)
        seqs, energy = [], []
        while len(q2):
            for b in q2.peek(50):
                seqs.append(int(b.split(",")[0][7:]))
                energy.append(b.rsplit(":", 1)[1].rstrip("}"))
            q2.drop(50)
        assert_eq(seqs, sorted(seqs))
        assert_eq(seqs[-1], 200)  # the newest reading is never thinned
        # The counter is cumulative: first-to-last kWh is exact, whatever was thinned.
        assert_eq(energy[-1], "%d.%03d" % ((1000 + 200 * 37) // 1000, (1000 + 200 * 37) % 1000))
        # Recent data keeps full resolution; only the oldest part is thinned.
        assert_eq(seqs[-10:], list(range(191, 201)))
    finally:
        store.SEG_LEN = 50


def test_stamp_held_readings():
    q = store.Store("q", 1000)
    q.append(line(1, 1, stamped=False))
    q.append(line(2, 2))
    held = line(3, 3, stamped=False).replace('"boot":1', '"boot":7')
    q.append(held)
    assert q.unstamped
    assert store.Store("q", 1000).unstamped  # known after reboot too
    n = q.stamp(1, lambda ticks: "T%d" % ticks)
    assert_eq(n, 2)
    a, b, c = q.peek(3)
    assert_eq(
        a,
        '{"seq":1,"timestamp":"T1000","voltage":230.0,"current":1.000,'
        '"power":230.0,"energy":0.001}',
    )
    assert_eq(b, line(2, 2))
    assert_eq(c, '{"seq":3,"voltage":230.0,"current":1.000,"power":230.0,"energy":0.003}')
    assert not q.unstamped
