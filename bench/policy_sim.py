"""A fast stand-in for the graph loop, used ONLY to choose among candidate default policies on DEV metrics
of TUNING seeds (100-102); never on test scores, and never published as a result (the suite, bench/suite.py,
runs the real graph for that).

It mimics one run of the suite: the task's pool embedded with the packaged MiniLM (the suite's shared
embedding cache), k-means with k by silhouette (the index step's `choose_k`), an oracle teacher, the
embedding-probe student (logistic regression, C=10), 2 labels per cluster to start, then the budget over
4 rounds. Each candidate is a cold start + an allocation + a selection, written in a few lines.

    .venv/bin/python -m bench.policy_sim random,uncertainty,rep_unc_div,dg_old [task,task] [100,101,102]

This is how `distillgraph`'s default (rep_unc_div: representatives, then diverse pool-wide uncertainty)
replaced the former one (dg_old: adaptive balancing x (1 + 30 x dev error), per-cluster selection); the
dev table is in BENCHMARKS.md ("Choosing the default").
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from bench.harness import shared_embedder
from bench.tasks import builtin_tasks
from distillgraph.store.cluster import choose_k
from distillgraph.store.schema import content_id


def load_embeddings(names: list[str], seeds: list[int]) -> dict:
    """(task, split seed) -> split -> (vectors, labels): each tuning seed has its own split, as in the suite."""
    emb = shared_embedder()
    tasks, out = builtin_tasks(), {}
    for name in names:
        for seed in seeds:
            s = tasks[name].splits(seed)
            out[(name, seed)] = {}
            for split in ("pool", "dev", "test"):
                texts = [x for x, _ in getattr(s, split)]
                out[(name, seed)][split] = (
                    np.asarray(emb.encode(texts, [content_id(x) for x in texts]), dtype=np.float32),
                    [lb for _, lb in getattr(s, split)],
                )
    return out


D: dict = {}


def norm(X):
    return X / (np.linalg.norm(X, axis=1, keepdims=True) + 1e-9)


class Env:
    def __init__(self, task, seed):
        d = D[(task, seed)]
        self.X, self.y = norm(d["pool"][0]), np.array(d["pool"][1])
        self.Xd, self.yd = norm(d["dev"][0]), np.array(d["dev"][1])
        self.Xt, self.yt = norm(d["test"][0]), np.array(d["test"][1])
        self.labels = sorted(set(self.y) | set(self.yd))
        k = choose_k(self.X, 3, 10, seed)
        km = KMeans(k, random_state=seed, n_init=4).fit(self.X)
        self.k, self.c, self.cent = k, km.labels_, km.cluster_centers_
        self.cd = km.predict(self.Xd)
        self.ct = km.predict(self.Xt)
        self.rng = np.random.default_rng(seed)
        # representatives: nearest to centroid
        self.reps = {
            c: list(
                np.argsort(-(self.X @ (self.cent[c] / np.linalg.norm(self.cent[c]))) + 10 * (self.c != c))[:5]
            )
            for c in range(k)
        }


def fit(env, L):
    ys = env.y[L]
    if len(set(ys)) < 2:
        return None
    return LogisticRegression(C=10.0, max_iter=2000).fit(env.X[L], ys)


def evaluate(env, clf, X, y, c):
    if clf is None:
        pred = np.array([Counter(env.y).most_common(1)[0][0]] * len(y))
    else:
        pred = clf.predict(X)
    f1 = f1_score(y, pred, labels=env.labels, average="macro", zero_division=0)
    accs = [np.mean(pred[c == j] == y[c == j]) for j in range(env.k) if np.any(c == j)]
    return f1, min(accs), pred


def probs(env, clf, idx):
    P = clf.predict_proba(env.X[idx]) if clf is not None else np.ones((len(idx), 2)) / 2
    return P


def margin_score(P):  # higher = more informative
    s = np.sort(P, axis=1)
    return 1 - (s[:, -1] - s[:, -2]) if P.shape[1] > 1 else np.zeros(len(P))


def entropy_score(P):
    return -(P * np.log(P + 1e-12)).sum(1)


def diverse(idx, scores, X, k, min_dist):
    order = np.argsort(-scores, kind="stable")
    chosen = []
    for o in order:
        if len(chosen) >= k:
            break
        i = idx[o]
        if min_dist > 0 and chosen and np.max(X[chosen] @ X[i]) > 1 - min_dist:
            continue
        chosen.append(i)
    for o in order:  # fill if diversity blocked too much
        if len(chosen) >= k:
            break
        if idx[o] not in chosen:
            chosen.append(idx[o])
    return chosen


def typical(env, idx, kn=20):
    Xs = env.X[idx]
    S = Xs @ Xs.T
    kk = min(kn, len(idx) - 1)
    if kk < 1:
        return np.ones(len(idx))
    nn = -np.sort(-S, axis=1)[:, 1 : kk + 1]
    return 1 / (np.mean(1 - nn, axis=1) + 1e-6)


def run(env, policy, B, K=4, **kw):
    env.meta = {}  # per-run memory of a candidate that learns across rounds (meta)
    L = []
    # bootstrap: 2 per cluster
    nb = min(2 * env.k, B)
    if policy.get("boot") == "random":
        L = list(env.rng.choice(len(env.y), nb, replace=False))
    elif policy.get("boot") == "typiclust":
        L = typiclust(env, L, nb)
    else:
        per = [env.reps[c][:2] for c in range(env.k)]
        L = [i for pair in per for i in pair][:nb]
    clf = fit(env, L)
    for stage in range(K):
        left = B - len(L)
        stages_left = K - stage
        n = int(left // stages_left) if stage < K - 1 else left
        if n <= 0:
            continue
        new = policy["select"](env, clf, L, n, stage, K, **kw)
        L = L + [i for i in new if i not in L]
        clf = fit(env, L)
    f1d, wd, _ = evaluate(env, clf, env.Xd, env.yd, env.cd)
    f1t, wt, _ = evaluate(env, clf, env.Xt, env.yt, env.ct)
    return dict(dev_f1=f1d, dev_worst=wd, test_f1=f1t, test_worst=wt, n=len(L))


def unl(env, L):
    m = np.ones(len(env.y), bool)
    m[L] = False
    return np.where(m)[0]


def typiclust(env, L, n):
    return L + typi_in(env, np.arange(len(env.y)), L, n)


# ---- selection strategies
def sel_random(env, clf, L, n, stage, K, **kw):
    return list(env.rng.choice(unl(env, L), n, replace=False))


def sel_global(score):
    def f(env, clf, L, n, stage, K, **kw):
        U = unl(env, L)
        if clf is None:
            return sel_random(env, clf, L, n, stage, K)
        s = score(probs(env, clf, U))
        return list(U[np.argsort(-s, kind="stable")[:n]])

    return f


def alloc_shares(env, clf, L, stage, K, mode, boost=0.0, shrink=0.0):
    nat = np.bincount(env.c, minlength=env.k).astype(float)
    nat /= nat.sum()
    if mode == "natural":
        sh = nat
    elif mode == "uniform":
        sh = np.ones(env.k) / env.k
    elif mode == "baldistill":
        sh = nat * (K - stage) / K + (1 / env.k) * stage / K
    elif mode == "sqrt":
        sh = np.sqrt(nat)
        sh /= sh.sum()
    if boost:
        _, _, pred = evaluate(env, clf, env.Xd, env.yd, env.cd)
        err = np.zeros(env.k)
        cnt = np.zeros(env.k)
        for j in range(env.k):
            m = env.cd == j
            cnt[j] = m.sum()
            err[j] = np.mean(pred[m] != env.yd[m]) if m.any() else 0
        mean = np.sum(err * cnt) / max(cnt.sum(), 1)
        err = (cnt * err + shrink * mean) / (cnt + shrink) if shrink else err
        sh = sh * (1 + boost * err)
        sh /= sh.sum()
    return sh


def quotas(sh, n, avail):
    raw = sh * n
    q = np.floor(raw).astype(int)
    left = n - q.sum()
    for j in np.argsort(-(raw - q), kind="stable")[:left]:
        q[j] += 1
    q = np.minimum(q, avail)
    spill = n - q.sum()
    for j in np.argsort(-sh):
        if spill <= 0:
            break
        e = min(avail[j] - q[j], spill)
        q[j] += e
        spill -= e
    return q


def sel_global_div(score, div):
    def f(env, clf, L, n, stage, K, **kw):
        U = unl(env, L)
        if clf is None:
            return sel_random(env, clf, L, n, stage, K)
        return diverse(U, score(probs(env, clf, U)), env.X, n, div)

    return f


def sel_cluster(mode="natural", score=margin_score, div=0.0, boost=0.0, shrink=0.0, mix=0.0, dens=0.0):
    def f(env, clf, L, n, stage, K, **kw):
        U = unl(env, L)
        cu = env.c[U]
        avail = np.bincount(cu, minlength=env.k)
        q = quotas(alloc_shares(env, clf, L, stage, K, mode, boost, shrink), n, avail)
        out = []
        for j in range(env.k):
            if q[j] == 0:
                continue
            idx = U[cu == j]
            nr = int(round(mix * q[j]))
            if nr:
                r = list(env.rng.choice(idx, nr, replace=False))
                out += r
                idx = np.array([i for i in idx if i not in set(r)])
            m = q[j] - nr
            if m <= 0:
                continue
            if clf is None:
                s = np.zeros(len(idx))
            else:
                s = score(probs(env, clf, idx))
            if dens:
                s = s * typical(env, idx) ** dens
            out += diverse(idx, s, env.X, m, div)
        return out

    return f


def badge(env, clf, L, n, stage, K, **kw):
    """BADGE (Ash et al., 2020): k-means++ seeding over gradient embeddings (p - onehot(argmax)) x features."""
    U = unl(env, L)
    if clf is None:
        return sel_random(env, clf, L, n, stage, K)
    P = probs(env, clf, U)
    G = P.copy()
    G[np.arange(len(U)), P.argmax(1)] -= 1.0
    # ||g_i - g_j||^2 from the outer products: <g_i,g_j> = <p_i,p_j><x_i,x_j>
    X = env.X[U]
    sq = (G * G).sum(1) * (X * X).sum(1)
    first = int(np.argmax(sq))
    chosen = [first]
    d2 = sq + sq[first] - 2 * (G @ G[first]) * (X @ X[first])
    for _ in range(n - 1):
        d2 = np.maximum(d2, 0)
        d2[chosen] = 0
        if d2.sum() <= 0:
            break
        nxt = int(env.rng.choice(len(U), p=d2 / d2.sum()))
        chosen.append(nxt)
        d2 = np.minimum(d2, sq + sq[nxt] - 2 * (G @ G[nxt]) * (X @ X[nxt]))
    return list(U[chosen])


def sel_power(score, beta=1.0):
    """Stochastic batch acquisition (Kirsch et al., 2023): sample without replacement, p ~ score^beta."""
    def f(env, clf, L, n, stage, K, **kw):
        U = unl(env, L)
        if clf is None:
            return sel_random(env, clf, L, n, stage, K)
        s = np.maximum(score(probs(env, clf, U)), 1e-12)
        keys = beta * np.log(s) + env.rng.gumbel(size=len(U))
        return list(U[np.argsort(-keys)[:n]])
    return f


def sel_half(a, b):
    def f(env, clf, L, n, stage, K, **kw):
        na = (n + 1) // 2
        first = a(env, clf, L, na, stage, K)
        second = b(env, clf, L + first, n - len(first), stage, K)
        return first + second
    return f


def sel_split(a, b, share):
    """share(stage, K) of the round's n by a, the rest by b."""
    def f(env, clf, L, n, stage, K, **kw):
        na = int(round(share(stage, K) * n))
        first = a(env, clf, L, na, stage, K) if na else []
        second = b(env, clf, L + first, n - len(first), stage, K) if n - len(first) else []
        return first + second
    return f


def sel_typi(env, clf, L, n, stage, K, **kw):
    return typiclust(env, L, n)[len(L):]


def typi_in(env, idx, L, n):
    """TypiClust restricted to `idx` (one cluster): k-means into |labelled in idx| + n, the most typical point
    of each largest uncovered k-means cluster."""
    inside, done = set(idx), set(L)
    Lin = [i for i in L if i in inside]
    U = np.array([i for i in idx if i not in done], dtype=int)
    n = min(n, len(U))
    if n <= 0:
        return []
    km = KMeans(min(len(Lin) + n, len(U)), random_state=0, n_init=1).fit(env.X[U])
    covered, sizes = Counter(km.predict(env.X[Lin]) if Lin else []), Counter(km.labels_)
    out = []
    for cl, _ in sorted(sizes.items(), key=lambda kv: (covered[kv[0]] > 0, -kv[1]))[:n]:
        members = U[km.labels_ == cl]
        out.append(int(members[np.argmax(typical(env, members))]))
    return out


def dev_f1(env, L):
    return evaluate(env, fit(env, L), env.Xd, env.yd, env.cd)[0]


def sel_dg_now(env, clf, L, n, stage, K, **kw):
    """The graph's default of 2026-12-02 (session 31), approximately: BalDistill quotas x (1 + 100 x cluster dev
    error); in each cluster a share equal to the student's dev macro-F1 by diverse entropy, the rest by
    TypiClust within the cluster."""
    if clf is None:
        return sel_typi(env, clf, L, n, stage, K)
    U = unl(env, L)
    cu = env.c[U]
    q = quotas(alloc_shares(env, clf, L, stage, K, "baldistill", 100.0), n, np.bincount(cu, minlength=env.k))
    f1 = evaluate(env, clf, env.Xd, env.yd, env.cd)[0]
    out = []
    for j in np.nonzero(q)[0]:
        idx = U[cu == j]
        m = int(round(f1 * q[j]))
        first = diverse(idx, entropy_score(probs(env, clf, idx)), env.X, m, 0.15) if m else []
        out += first + typi_in(env, np.where(env.c == j)[0], list(L) + first, q[j] - len(first))
    return out


def meta(arm_a, arm_b, hi):
    """Choosing between two strategies per round by measured dev gain (as in 'active learning by learning',
    Hsu & Lin 2015): each round buys a part by each; next round, the part whose labels, added alone to the
    round's starting set, raised dev macro-F1 more per label gets share `hi` (the other 1 - hi). Starts 50/50."""
    def f(env, clf, L, n, stage, K, **kw):
        st = env.meta
        if "last" in st:
            L0, A, B = st["last"]
            if A and B:
                base = dev_f1(env, L0)
                gain_a = (dev_f1(env, L0 + A) - base) / len(A)
                gain_b = (dev_f1(env, L0 + B) - base) / len(B)
                st["share_b"] = hi if gain_b > gain_a else 1 - hi
        nb = int(round(st.get("share_b", 0.5) * n))
        B = arm_b(env, clf, L, nb, stage, K) if nb else []
        A = arm_a(env, clf, L + B, n - len(B), stage, K) if n > len(B) else []
        st["last"] = (list(L), list(A), list(B))
        return B + A
    return f


POL = {
    "badge": dict(select=badge, boot="random"),
    "rep_badge": dict(select=badge),
    "rep_power_unc": dict(select=sel_power(entropy_score)),
    "rep_power_margin": dict(select=sel_power(margin_score)),
    "power_margin": dict(select=sel_power(margin_score), boot="random"),
    "rep_power_margin2": dict(select=sel_power(margin_score, 2.0)),
    "rep_half_typi": dict(select=sel_half(sel_global_div(entropy_score, 0.15), sel_typi)),
    "typiclust": dict(select=sel_typi, boot="typiclust"),
    "rep_typi_sched": dict(select=sel_split(sel_typi, sel_global_div(entropy_score, 0.15),
                                            lambda st, K: 0.75 - 0.5 * st / max(K - 1, 1))),
    "rep_half_rand": dict(select=sel_half(sel_global_div(entropy_score, 0.15), sel_random)),
    "typi_half_typi": dict(select=sel_half(sel_global_div(entropy_score, 0.15), sel_typi), boot="typiclust"),
    "rnd_half_typi": dict(select=sel_half(sel_global_div(entropy_score, 0.15), sel_typi), boot="random"),
    "rep_half_typi_nodiv": dict(select=sel_half(sel_global(entropy_score), sel_typi)),
    "rep_third_typi": dict(select=sel_split(sel_typi, sel_global_div(entropy_score, 0.15), lambda st, K: 1 / 3)),
    "random": dict(select=sel_random, boot="random"),
    "margin": dict(select=sel_global(margin_score), boot="random"),
    "uncertainty": dict(select=sel_global(entropy_score), boot="random"),
    "dg_old": dict(select=sel_cluster("baldistill", entropy_score, 0.15, 30.0)),
    "cl_margin_nat": dict(select=sel_cluster("natural", margin_score, 0.0)),
    "cl_margin_nat_div": dict(select=sel_cluster("natural", margin_score, 0.15)),
    "cl_margin_nat_boost3s": dict(select=sel_cluster("natural", margin_score, 0.0, 3.0, 20)),
    "cl_margin_nat_mix": dict(select=sel_cluster("natural", margin_score, 0.0, mix=0.5)),
    "cl_margin_sqrt": dict(select=sel_cluster("sqrt", margin_score, 0.0)),
    "cl_margin_bal": dict(select=sel_cluster("baldistill", margin_score, 0.0)),
    "typi_margin": dict(select=sel_global(margin_score), boot="typiclust"),
    "typi_cl_margin": dict(select=sel_cluster("natural", margin_score, 0.0), boot="typiclust"),
    "cl_margin_dens": dict(select=sel_cluster("natural", margin_score, 0.0, dens=1.0)),
    "rep_unc": dict(select=sel_global(entropy_score)),
    "rep_margin": dict(select=sel_global(margin_score)),
    "rep_unc_div": dict(select=sel_global_div(entropy_score, 0.15)),
    "rep_margin_div": dict(select=sel_global_div(margin_score, 0.15)),
    "dg_margin": dict(select=sel_cluster("baldistill", margin_score, 0.15, 30.0)),
    "dg_shrink": dict(select=sel_cluster("baldistill", margin_score, 0.15, 5.0, 20)),
    "nat_shrink": dict(select=sel_cluster("natural", margin_score, 0.15, 5.0, 20)),
    "dg_now": dict(select=sel_dg_now, boot="typiclust"),
    "meta75": dict(select=meta(sel_dg_now, sel_typi, 0.75), boot="typiclust"),
    "meta90": dict(select=meta(sel_dg_now, sel_typi, 0.9), boot="typiclust"),
    "meta100": dict(select=meta(sel_dg_now, sel_typi, 1.0), boot="typiclust"),
    "nat_shrink_mix": dict(select=sel_cluster("natural", margin_score, 0.15, 5.0, 20, mix=0.3)),
}

if __name__ == "__main__":
    pols = sys.argv[1].split(",") if len(sys.argv) > 1 else list(POL)
    seeds = [int(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 else [100, 101, 102]
    assert min(seeds) >= 100, "tuning seeds only (100+): the suite's test seeds are 0-9"
    budgets = [20, 40, 80, 160]
    res = defaultdict(list)
    tasks = sys.argv[2].split(",") if len(sys.argv) > 2 else list(builtin_tasks())
    D.update(load_embeddings(tasks, seeds))
    for task in tasks:
        for s in seeds:
            env0 = Env(task, s)
            for p in pols:
                for B in budgets:
                    env0.rng = np.random.default_rng(s * 7 + B)
                    r = run(env0, POL[p], B)
                    res[(task, p, B)].append(r)
        # print per task
        print(f"== {task} (dev macro-F1 / dev worst-cluster, tuning seeds)")
        for p in pols:
            row = [
                f"{np.mean([r['dev_f1'] for r in res[(task, p, B)]]):.3f}/{np.mean([r['dev_worst'] for r in res[(task, p, B)]]):.2f}"
                for B in budgets
            ]
            print(f"{p:24s}", "  ".join(row), flush=True)
    print("== mean dev F1 over tasks and budgets; mean diff to random; min diff to random")
    for p in pols:
        diffs = (
            [
                np.mean([r["dev_f1"] for r in res[(t, p, B)]])
                - np.mean([r["dev_f1"] for r in res[(t, "random", B)]])
                for t in tasks
                for B in budgets
            ]
            if "random" in pols
            else [0]
        )
        print(
            f"{p:24s} {np.mean([np.mean([r['dev_f1'] for r in res[(t, p, B)]]) for t in tasks for B in budgets]):.4f} {np.mean(diffs):+.4f} {np.min(diffs):+.4f}"
        )
    print("== minimax regret: per (task, budget) the gap to the best candidate's dev F1; worst gap and mean gap")
    best = {(t, B): max(np.mean([r["dev_f1"] for r in res[(t, p, B)]]) for p in pols) for t in tasks for B in budgets}
    for p in pols:
        gaps = [best[(t, B)] - np.mean([r["dev_f1"] for r in res[(t, p, B)]]) for t in tasks for B in budgets]
        print(f"{p:24s} worst {max(gaps):.4f} mean {np.mean(gaps):.4f}")

