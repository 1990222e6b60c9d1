"""Issue 17's counting targets over every stored multislice PbSe set: which view-counts miss, in one table.

    PYTHONPATH=src python benchmarks/bench_counting_sets.py [--sets ...] [--doses 1e5 2e4] [--seeds 0 1 2 3]
        [--csv OUT.csv] [--compare BASE.csv] [--quick] [--wrong-doses 0.8 0.85 1.15 1.2] [--surface fit]

For every set (``bench_end_to_end.load_set``: the starter set, the bundled sample and the particles stored with the
tests), dose and noise seed the three views are fitted once (``bench_end_to_end.fit_view``, the tool's find and fit
with the command line's defaults) and counted jointly (``count_views``) twice: with the dose given and without it.
Each view's exact fraction of its Pb-bearing columns is compared with issue 17's target (the image's counting
ceiling - 0.03 at 1e5 e/Å², - 0.06 at 2e4); a refused count misses in all three views.  Printed: the view-counts
under target per set, each miss with its own and common totals, and the no-dose scale / true range.  ``--csv``
writes one row per view-count; ``--compare`` lists the view-counts whose target status differs from a CSV written
before (of another checkout: run it there with ``PYTHONPATH`` on that checkout's ``src``).  ``--quick``: seed 0.
``--wrong-doses``: each set's fits are also counted with those factors × the true dose given; a count that is not
refused and whose common Pb total lies more than 5 % from the truth is listed as QUIET-WRONG (a wrong answer given
quietly), or WARNED where the count carries a warning (``ViewsCount.warnings``: the views' own totals part).
``--surface off|pooled|fit``: the surface term of the libraries in the fit's units (``library.table.FITTED_SURFACE``):
none, its pooled slope, or each view's own fitted about it (``counting.surface``; the default).

Measured 2026-12-08 02:16-02:29 UTC (the same, ``--compare`` against the CSV of cc1944e): without a dose, where the
calibrated [110] Pb columns' scale (the one reported) lies more than ``views.RECOUNT_OFF`` (2 %) from the one the
views were counted at, they are counted again at it (``views._recounted_at``; 14 of 88 no-dose runs): **15 of 528**
(16); the octahedral particle's 1e5 s2 [110], whose window about its ⟨100⟩ median (1.08 ×) left out the three 9-Pb
columns, 0.902 -> 0.934.  2 view-counts worse by a column (the stepped particle's 2e4 s3 [100] / [010] without the
dose, 0.901 / 0.923 -> 0.893 / 0.915, on target); the dose-given counts and the scales reported identical.

Measured 2026-12-08 01:14-02:09 UTC (2-core machine, ``fit_view`` fits cached, ``--compare`` against the CSV of
5f7ba4c measured the same hour): about a dose the user gives, the prior of the [110] Pb columns whose capture is
calibrated is that capture's own spread (``library.table.CALIBRATED_DOSE_SD`` 0.02, was 0.04; where the views' own
scale stands in for a dose it stays 0.04, ``STAND_IN_SD``): **16 of 528** under target (19): the stepped particle's
2e4 s1 with the dose, whose [110] fitted 1.031 × the dose's scale with a window one class short and whose three
views read 714 of 749, now 0.893 / 0.931 / 0.907 exact and 750 Pb; common totals more than 3 % off 3 -> 0 view-counts.
By value 3 better, 3 worse (the truncated cube's 1e5 s2 with the dose 0.939 / 0.961 / 1.000 -> 0.929 / 0.951 /
0.986, on target).  Every count without the dose identical; no-dose scale / true 0.9652-1.0240.  Wrong doses
(``--seeds 0 1 --wrong-doses 0.8 0.85 1.15 1.2``): **176 of 176 refused** (174, and 2 counted within 5 %).

Measured 2026-12-07 22:13-23:22 UTC (2-core machine, ``fit_view`` fits cached, ``--compare`` against the CSV of
b1ee935): without a dose the scale reported is now that of the [110] Pb columns where their library is in the fit's
units (their capture calibrated on particles' own fitted columns), fitted about the scale the views chose
(``counting.views._calibrated_scale``; within ``VIEWS_AGREE`` of it, the families' totals not parting), not the
median of the views' estimates, which the ⟨100⟩ pair's mixed ladder can bias.  No-dose scale / true 0.9666-1.0682 ->
**0.9652-1.0240**; 3 of 88 runs more than 3 % off (6 before: the octahedral particle's 1e5 s0 / s2 and 2e4 s1 / s2,
1.04-1.07, now 0.98-1.00), the three left 0.965-0.970 (the cuboid's 2e4 s2 and the octahedral 2e4 s0 / s3).  All 528
view-counts identical (the views are not counted again at it): 19 of 528.  Wrong doses (``--seeds 0 1
--wrong-doses 0.8 0.85 1.15 1.2``): 0 of 176 quiet, **0 with a warning** (4 before: the octahedral particle at 1.15 ×,
whose own scale was the ⟨100⟩ pair's 1.07 ×, now refused), 2 within 5 % (the irregular particle at 1.15 ×, 301 and
302 of 302), 174 refused.

Measured 2026-12-07 19:59-20:15 UTC (2-core machine; this benchmark's ``fit_view`` fits cached, ``--compare`` against
the CSV of 6ba7dfd, which had no surface term): each [110] view fitting its own surface slope about the pooled 0.026
(the [110] library in the fit's units: a particle's short Pb columns, beside shorter ones and vacuum, read
(V / V(6 Pb))^b of the bulk slab's fitted value V; the pooled b calibrated on the noise-free [110] views of the four
particles of ``tests/core/test_library_fitted.py`` and checked on the six others there): **19 of 528** under target
(35 without the term, 21 with the pooled slope fixed: ``--surface off`` / ``--surface pooled``).  By set: starter 2,
octahedral 1 (8 without), stepped 16 (24), all others 0 (cuboid 1 and 3 nm cuboctahedron 0 without; the pooled slope
left that cuboctahedron's 1e5 s3 [110] a column short, 0.956 against 0.959, the fitted one does not).  The stepped
particle's 1e5 s0 without the dose is no longer refused (0.893 / 0.900 / 0.907), its 2e4 s1 without the dose 0.686 /
0.708 / 0.629 -> 0.893 / 0.931 / 0.907.  Worse: the octahedral 1e5 s2 [110] without the dose 0.934 -> 0.902 (target
0.921).  No-dose scale / true 0.9666-1.0682.  Left on the stepped particle: 2e4 s1 with the dose (every view takes a
scale ~5 % above its true classes' and they agree at 714 of 749), its [010] at 1e5 (0.83-0.90 against 0.885-0.908)
and [110] by one column.  Wrong doses (0.8 / 0.85 / 1.15 / 1.2 ×, seeds 0-1, the six particles with a fitted [110]
library, scratch ``wrongdose2.py`` as ``--wrong-doses`` counts them): none of 96 counted quietly; 4 more than 5 % off
carry the warning that the views' own totals part (the octahedral particle at 1.15 ×, 360-370 of 390, its [110] view
~15 % below the ⟨100⟩ pair's), 2 within 5 % (377 of 390), 90 refused.

Measured 2026-12-07 16:24-16:55 UTC (2-core machine): wrong doses 0.8 / 0.85 / 1.15 / 1.2 × the true one, seeds 0-1
at both doses, 176 counts over the eleven sets, counted as ``--wrong-doses`` does (by a script that came before the
option, on this benchmark's ``fit_view`` fits cached).  Main before this
session's change (0325472): **10 of 176** counted quietly more than 5 % off the true total, among them the stepped
particle at 0.8 × (907 of 749 Pb) and 1.15 × (645; at 2e4 s1 636), the octahedral at 1.2 × (332 and 344 of 390), the
irregular at 1.15 × (273 of 302) and the starter at 1.15 × (649 and 659 of 704); 156 refused.  After it (a dose's
counted thickness held to the no-dose bounds 0.90-1.11, not 0.8-1.25; the median of the views' own estimates
standing for their scale only where the count at the dose fits the width seen and its totals do not part): **2 of
176** (the octahedral particle at 1.15 ×: 361 of 390, its own scale an alias within the check's errors), 166
refused.  At the true dose the counted thickness lay 0.92-1.00 in all 88 joint counts, and all 528 view-counts are
identical to those before (``--compare``: no change; 35 of 528 under target).

Measured 2026-12-07 13:21-13:46 UTC (2-core machine, alone; eleven sets, 528 view-counts): an eleventh particle,
``pbse_stepped_4nm`` (4.3 × 4.0 × 2.4 nm, {111} corners, one {110} bevel, a step on +z, 749 Pb, [100] columns of 15
sites, the libraries' top count; 5 configurations), designed and committed after b63a519 and measured once with the
counting of b63a519 (``PYTHONPATH`` on a worktree of 0160fb0): **43 of 48** under target.  Its ⟨100⟩ pair's scale,
chosen on the cross-sections alone, was 1.06 × the one its columns' true classes give (own totals 722 / 725 against
[110]'s 740, of 749), and the ends' refinement, searched upward only, took × 1.08, another alias: 648 / 652, the
common total 688, 0.50 / 0.52 / 0.37 exact (1e5 s0, the dose given).  Where the upward factor parts a family's
total from the others' by more than 6 %, the ends now search 8 % below too, among the factors whose totals lie
within 3 % (``counting.views._ends_agreeing``): **24 of 48**, the ten sets before unchanged (``--compare`` against
the CSV of b63a519: no change of status), **35 of 528** in all.  Left on it: 1e5 s0 without the dose refused (1.004
× and 0.895 × the truth both fit its shape with totals within 3 %, and the views' own scales about each come back
within 5 %); [110] 1-5 of its 97 Pb columns short at 1e5 (its fitted Pb columns are 0.92 × the library at 1-2 atoms and 1.05 ×
at 12, a slope the one-scale library cannot follow; the other particles' [110] columns reach 9 atoms); at 2e4 s1
every view, dose given or not: [110]'s own scale took 1.047 × the dose's (an alias within the prior), totals 709 /
732 / 716 agree within 4 % and nothing moves them.  No-dose scale / true 0.965-1.062 on it.

Measured 2026-12-07 10:25-10:40 UTC (2-core machine, alone; ten sets, 480 view-counts): a tenth particle,
``pbse_octahedral_4nm`` (3.7 × 3.1 × 2.4 nm between octahedron and cube, large {111} facets, more Se than Pb, 390 Pb,
5 configurations), simulated this session after 326c31e and measured once before any change: **27 of 48** under
target, no-dose scale / true up to 1.19.  Two causes, mended: (1) its ⟨100⟩ views hold single Se atoms at their {111}
corners, (0, 1), typed "Pb+Se" like every column there, and the mixed classes had no entry without Pb: each read 1 Pb
([010] own total 396, 0.944 exact at 1e5 s0).  A mixed column may now take (0, 1) (``counting.hybrid``: the scale
and window still from the entries holding Pb): 27 -> 21, [010] 0.944 -> 0.991; on the nine sets before, one
view-count worse by one column (the cuboid's 2e4 s0 no-dose [110] 0.886 -> 0.873, target 0.877: its [010] total
moved 468 -> 469 by the ends' fit, the common total 470 -> 469 of 473), none better.  (2) At 1e5 s1 and 2e4 s0 its
[010] and [110] views fitted the same alias, 1.19 × the truth, and the median took it: totals 383 / 390 / 331, the
common total 361, [110] 0.57 exact; with the true dose that own scale refused it.  A median at which a family's
total lies more than 6 % from the others' is now not kept (``counting.views._totals_apart``: the views' estimates
and each scaled by its view's total over the others' tried, as when the views disagree): 21 -> 11 of 48, the nine
sets unchanged (``--compare``: only the new particle's 10 better).  (3) At 2e4 s3 without the dose 1.09 × and 1.23 ×
the truth both fit its shape, totals 3.1 % and 16 % apart, and the count was refused; where no tried scale's totals
agree within 3 %, those within 6 % (a view's miscounts) are now kept first (``views._chosen``): **8 of 48**, the nine
sets unchanged, total **11 of 480** (10:57-11:10 UTC).  Left on it: [110] at 1e5 s0 / s1 / s3 and 2e4 s1, dose and
no dose, 0.852-0.918 against 0.874-0.937 (each 1-2 columns short; its totals 387-390 of 390, its Pb classes at
0.98-1.03 × the library, spread 4-9 % by the physics, as the ceiling says).  End to end with the dose
(``bench_end_to_end.py --set pbse_octahedral_4nm --dose-given --seeds 0 1 2 3 --runs 4``): totals 386-392 of 390,
true sites 0.9949-1.0000 found, model 0.9949-1.0000 true.  Its no-dose scale / true is 1.013-1.068: its ⟨100⟩ columns
read 1.08-1.14 × the library × the fit capture at the true dose (after the ends' refinement), its [110] 0.97-1.00,
and the scale chosen is a ⟨100⟩ view's where the views disagree, 6.8 % high at 1e5 s0 (issue 17 asks 3 %; the
error reported, the capture's 4 % included, covers it within 2).

Measured 2026-12-07 07:43 UTC (2-core machine, alone; ``--compare`` against main 4140d55's CSV of this session,
which reproduced its 9): after the ends are set, each mixed family's scale is recounted up to 8 % above the one
chosen on the cross-sections alone and set where its views, with their ends, are most likely together
(``counting.views._ends_factors``; the common total then chosen on those counts): **2 of 432** under target, 7
better, none worse.  Mended: the 3 nm cuboctahedron's 6 (1e5 s1 [110] 0.934 -> 0.978; s2 [100] 0.942 -> 0.983 and
[110] 0.923 -> 1.000, its ⟨100⟩ views reading 568 / 568 Pb of 568 where they read 582 / 572) and the truncated cube's
2e4 s0 [110] (0.932 -> 0.973).  Left: the starter set's 2e4 s1 [110] with and without the dose (0.723 against
0.742; its [110] cost curve is flat within 0.6 over ± 10 Pb, the 2-configuration images' ceiling 0.80, and its ⟨100⟩
family did not move).  No-dose scale / true 0.9757-1.0254, unchanged (the joint scale is not refined, only the
mixed types' own).  Measured before it, not kept: the grid both ways (± 8 %): **32 of 432** (the sample 16, the 3
nm truncated octahedron 10): below the chosen scale the likelihood with the ends, each scale's window refitted, rose
again at a second alias (-5 to -8 %; the truncated octahedron's 1e5 s2 [100] 1.000 -> 0.857).  That run's grid was
0, 1, ..., 8 %; the grid kept, 0, 2, ..., 8 % (half the recounts), measured again at 08:34 UTC: the same 2 of 432,
``--compare`` against the 1 % grid's CSV listing no change of status.  Over all 432 view-counts the mean exact
fraction went 0.948 -> 0.953; the ⟨100⟩ views' own totals lie 2.9 Pb from the truth on average (3.9 before), the
common totals 1.9 (2.6 before), none beyond 3 %.

Measured 2026-12-07 05:55 UTC (2-core machine, beside a test run; ``--compare`` against main c1a361b's CSV of this
session, which reproduced its 14): each odd mixed ⟨100⟩ column's end (Pb or Se) from the parity of its place on the
projected lattice (``counting.ends``; after the scale and aliases are chosen on the cross-sections alone, each view
recounted at its scale with the assignment it was counted with; the common total chosen on the counts before):
**9 of 432** under target, 5 better, none worse.  Every ⟨100⟩ view's mean exact fraction over its 16 runs rose or
stayed (the starter's [010] 0.874 -> 0.944, the cuboid's 0.877 -> 0.914, the truncated cube's [100] 0.880 -> 0.947
(1e5 s2 0.808 -> 0.949), the elongated particle's [100] 0.915 -> 0.940), [110] unchanged; over all 432 view-counts
0.932 -> 0.948.  The ⟨100⟩ views' own totals lie 3.9 / 4.0 Pb from the truth on average (5.4 / 5.4 before), none
beyond 3 % (4 of 288 before).  Left: the 3 nm cuboctahedron 6 (1e5 s1 and s2 [110], the common total 574 / 575 of
568; s2 [100] 0.942 against 0.953), the starter 2 (2e4 s1 [110] 0.723 against 0.742), the truncated cube 1 (2e4 s0
[110] 0.932 against 0.940); no-dose scale / true 0.9757-1.0254, unchanged.  Measured before it, not kept: the prior
inside every count of ``count_views`` (11 of 432: it moved the scale the aliases chose, the elongated particle's 2e4
s0 [100] read 488 of 471, and the ⟨100⟩ pair's sharper posteriors outvoted [110] in the common total, its 1e5 s2
[110] 0.964 -> 0.952); a share fixed at 0.95 instead of fitted (16: the rhombic particle's 1e5 s2 took the wrong
phase and read 463 Pb of 432 in [100]); the recount always with the pair fit's shares (the truncated cube's 2e4 s2
[100] 484 -> 493 Pb: its family had been recounted with every Se sub-class equally likely).

Measured 2026-12-07 03:10 UTC (2-core machine, beside a simulation), no change to the counting: the rhombic particle
with 2 more frozen-phonon configurations (8 in all) **2 of 48** under target (1e5 s1 [010], with and without the
dose, 0.927 against 0.942), no-dose scale / true 0.9757-1.0163; the 3 nm cuboctahedron with 5 more (8 in all) **6
of 48** (1 on its 3 configurations; its ceilings rose, [110]'s to 0.989: at 1e5 s1 and s2 the ⟨100⟩ pair reads 580
/ 581 and 582 / 579 Pb, [110] 569 / 570 of 568, and the common total 574 / 575 puts [110] at 0.934 / 0.923 against
0.959), no-dose scale / true 0.9884-0.9932.  Each measured once on its new images.  With the other seven sets as
before on this machine (19 of 432 there: the rhombic particle's 1e5 s0 dose [010] flipped to a miss on this
machine's floating point, 0.936 against 0.942): **14 of 432**, no-dose scale / true 0.9757-1.0254, every common
total within 3 %.

Measured 2026-12-07 00:50 UTC (2-core machine, alone): the rhombic particle with 3 configurations appended (6 in
all), measured once, no change to the counting: **11 of 48** under target where its 3-configuration images had 6 (its
ceilings rose with the images' convergence, the 2e4 targets to 0.83-0.92; misses at 2e4 s0, s2, s3 and one at 1e5
s0), no-dose scale / true 0.9627-1.0037.  Over the nine sets 18 of 432; no-dose scale / true 0.9627-1.0254.

Measured 2026-12-07 00:05 UTC (2-core machine, alone, 10 minutes): **13 of 432** under target, none on the elongated
particle, which now holds 8 frozen-phonon configurations per view (5 appended, see the data README: 3 left 5-6 % of
random thermal-diffuse signal in each column).  Its new images, measured once before any change (main 659c931): 6 of
48 (17 on its 3-configuration images), all at 2e4 without the dose, seeds 0 and 2 (its ⟨100⟩ pair 525 / 527 and 523
/ 528 Pb against [110]'s 472 / 475, no alias of the pair agreeing); then a family no alias reconciles is recounted at
the scale the views are counted about (``counting.aliases._alias_for``): 0 of 48, the other eight sets unchanged
(starter 3, 3 nm cuboctahedron 1, truncated cube 3, rhombic 6; ``--compare`` against the run before it: none worse,
and on the 3-configuration images of the elongated particle 17 -> 15).  No-dose scale / true 0.9770-1.0254 over the
nine sets (the elongated particle 0.9775-0.9972; on its 3 configurations it was 0.9585-0.9832).

Measured 2026-12-06 19:05 UTC (with a dose, the views also counted without it and a dose their own scale puts more
than 3 errors away refused, ``counting.views._dose_scale_check``): 30 of 432, unchanged, no true dose refused in the
72 runs (their own scale 0.9585-1.0254 × the true dose's, within 1.0 error).  Measured after it, not kept: the
[110] Pb scale of a library in the fit's units, with the dose, fixed at the dose's: 27 (6 better, 3 worse, the
truncated cube's 2e4 s0 [100] 0.909 -> 0.788); the most probable scale given its own fit and the dose's (± 1.5 %,
what the fit holds of such a library): 26 (6 better, 2 worse by a column, one of them the 3 nm cuboctahedron's 1e5
s1 [110], 0.868 -> 0.857, a test's target).

Measured 2026-12-06 18:40 UTC (2-core machine, 7 minutes; with a given dose, a ⟨100⟩ family that left the dose's
scale and disagrees with [110] is recounted within its fit capture's spread, ``counting.aliases._within_capture``,
``--compare`` against the run below: 2 better, none worse): 30 of 432 under target.  The elongated particle's 1e5
s3 ⟨100⟩ views with the dose 0.690 / 0.740 -> 0.810 / 0.805 (its [110] 0.735 -> 0.904, still one column under its
0.910); without the dose unchanged (the rule needs the user's dose).  Elongated 17 of 48, the other eight sets 13.

Measured 2026-12-06 17:37 UTC (2-core machine, alone, 7 minutes; nine sets, 432 view-counts): 32 under target,
13 of them on the eight sets below (unchanged) and 19 of 48 on ``pbse_elongated_4nm`` (3.7 × 2.4 × 2.4 nm, [100]
columns of up to 13 atoms, simulated after 85d23e0 and measured once before any change: the same 19, and 1e5 s0
with the dose refused).  Its misses: 1e5 s0 (with the dose [100] / [010] / [110] 0.738 / 0.789 / 0.783 against
0.768 / 0.799 / 0.898, counted since a view that refuses a dose the others take is counted at it; without, [100]
and [110]), s1 [110] by one column, s2 [100] and [110], s3 every view (its ⟨100⟩ views read 515 and 539 Pb of 471,
no alias agreeing with [110]'s 477), 2e4 s0 [110] by one column.  The cell ⟨100⟩ library's fit capture (0.85) is
about 4 % low for its long columns (their fitted volumes 1.02-1.07 × the library's at the dose for (6, 7) and (7,
6)).  No-dose scale / true 0.9585-1.0254 (0.9585 and 0.9696: elongated, beyond issue 17's 3 %).

Measured 2026-12-06 16:12 UTC (2-core machine, alone, 6 minutes; main + a pure-column family recounted at its
likeliest peak, :mod:`napari_nxtomo.core.counting.aliases`, ``--compare`` against 36f33c8's CSV: 4 better, none
worse): 13 of 384 under target.  Starter 3 (1e5 s2 [010] 0.860 / 0.862 with the dose; 2e4 s1 [110] 0.723 / 0.742
both modes: its totals 708 / 712 / 700 agree, nothing recounted), 3 nm cuboctahedron 1 (2e4 s3 [110] 0.758 / 0.775
with the dose), truncated cube 3 and rhombic 6 as below; no-dose scale / true 0.977-1.025.

Measured 2026-12-06 14:36 UTC (2-core machine, alone, 4 minutes; main 36f33c8, ``--compare`` against the CSV of
658be9f below: 9 view-counts better, none worse): 17 of 384 view-counts under target (eight sets now: the 3.1 nm
particle with {110} bevels on every edge, ``pbse_rhombic_3nm``, was simulated after cb5964a and measured before any
change: 6 of 48, four of them by one column).  Truncated cube 3 (1e5 s2 [100] 0.808 against 0.859 with and without
the dose, its totals agreeing, 465 / 473 / 471; 2e4 s0 [110] 0.932 against 0.940 with the dose), starter 6 and 3 nm
cuboctahedron 2 as below, the rhombic particle 6 (1e5 s2 without the dose [010] 0.826 / 0.842 and [110] 0.810 /
0.843 at scale / true 0.977, common total 447 of 432; 1e5 s3 [100] 0.828 / 0.829 and 2e4 s1 [100] 0.808 / 0.809,
both modes); no run refused; no-dose scale / true 0.977-1.037.

Measured 2026-12-06 (2-core machine, 10 minutes beside a CI run; main 658be9f, ``--compare`` against a CSV of the
session's start, 10 view-counts better, none worse): 20 of 336 view-counts under target (truncated cube 12: 1e5 s2
[100], 2e4 s0 [100] and [110], 2e4 s2 every view, with and without the dose; starter 6: [110] and one [010]; 3 nm
cuboctahedron 2: [110] at 2e4 s3); no run refused; no-dose scale / true 0.967-1.037.  30 of 336 at the start of
that session (before mixed columns took their most likely Pb count and the self-consistent no-dose scale).
"""

from __future__ import annotations

import argparse
import csv
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_end_to_end import fit_view, load_set, view_score  # noqa: E402

from napari_nxtomo.core.counting import count_views  # noqa: E402

SETS = ["sample", "starter", "pbse_irregular", "pbse_cuboctahedron_3nm", "pbse_truncated_octahedron_3nm",
        "pbse_truncated_cube_3nm", "pbse_cuboid_3nm", "pbse_rhombic_3nm", "pbse_elongated_4nm", "pbse_octahedral_4nm",
        "pbse_stepped_4nm"]
#: a count given a wrong dose that neither refuses it nor lands within this of the true total is a quiet wrong answer
QUIET_WRONG = 0.05
FIELDS = ["set", "dose", "seed", "dose_given", "view", "exact", "target", "met", "total", "true_total", "own_totals",
          "scale_over_true"]


def view_rows(views, fits, joint, key, c_true):
    """One row per view of a joint count (``key``: set, dose, seed, dose_given)."""
    rows = []
    for view, (table, truth, _), res in zip(views, fits, joint.results):
        exact, _, target, total = view_score(table, truth, res, key[1])
        rows.append(dict(zip(FIELDS, [*key, view.name, f"{exact:.3f}", f"{target:.3f}", int(exact >= target),
                                      total, int(view.columns["n_Pb"].sum()),
                                      " ".join(map(str, joint.totals_independent)), f"{joint.scale / c_true:.4f}"])))
    return rows


def wrong_doses(name, views, fits, libraries, dose, seed, factors):
    """Each ``factor`` × the true dose given to the joint count: (set, dose, seed, factor, outcome), the outcome
    "refused" or the common Pb total, where it lies more than :data:`QUIET_WRONG` from the truth marked WARNED when
    the count carries a warning (``ViewsCount.warnings``: the views' own totals part), else QUIET-WRONG."""
    n_true = int(views[0].columns["n_Pb"].sum())
    out = []
    for f in factors:
        try:
            joint = count_views([x[0] for x in fits], libraries, dose=f * dose, pixel_size=views[0].pixel_size)
            total = joint.totals[0]
        except ValueError:
            out.append((name, dose, seed, f, "refused"))
            continue
        off = abs(total / n_true - 1) > QUIET_WRONG
        out.append((name, dose, seed, f, f"{total} of {n_true}" + (
            (" WARNED" if joint.warnings else " QUIET-WRONG") if off else "")))
    return out


def count_set(name, doses, seeds, factors=(), wrong=None, surface=None):
    """Rows of every view-count of one set (``factors``: wrong doses tried too, their outcomes appended to
    ``wrong``; ``surface``: the libraries' ``surface``, None: as loaded)."""
    views, libraries, _, a = load_set(name)
    for lib in libraries:
        if surface is not None and hasattr(lib, "surface"):
            lib.surface = surface
    rows = []
    for dose in doses:
        for seed in seeds:
            fits = [fit_view(v, dose, seed, a) for v in views]
            if factors:
                wrong.extend(wrong_doses(name, views, fits, libraries, dose, seed, factors))
            c_true = dose * views[0].pixel_size**2
            for given in (True, False):
                key = (name, dose, seed, int(given))
                kw = {"dose": dose, "pixel_size": views[0].pixel_size} if given else {}
                try:
                    joint = count_views([f[0] for f in fits], libraries, **kw)
                except ValueError:  # refused: every view misses
                    rows += [dict(zip(FIELDS, [*key, v.name, "", "", 0, "", "", "refused", ""])) for v in views]
                    continue
                rows += view_rows(views, fits, joint, key, c_true)
    return rows


def report(rows):
    missed = [r for r in rows if str(r["met"]) != "1"]
    print(f"{len(missed)} of {len(rows)} view-counts under target (ceiling - 0.03 at 1e5 e/Å², - 0.06 at 2e4)")
    for name in dict.fromkeys(r["set"] for r in rows):
        n = sum(r["set"] == name for r in missed)
        print(f"  {name}: {n} of {sum(r['set'] == name for r in rows)}")
    for r in missed:
        print(f"  miss: {r['set']} {float(r['dose']):.0e} s{r['seed']} {'dose' if str(r['dose_given']) == '1' else 'no dose'}"
              f" [{r['view']}] {r['exact'] or 'refused'} (target {r['target']}); own totals {r['own_totals']} -> "
              f"{r['total']} of {r['true_total']}")
    scales = [float(r["scale_over_true"]) for r in rows if str(r["dose_given"]) == "0" and r["scale_over_true"]]
    if scales:
        print(f"no-dose scale / true {min(scales):.4f}-{max(scales):.4f}")


def compare(rows, base_csv):
    key = lambda r: (r["set"], float(r["dose"]), int(r["seed"]), int(r["dose_given"]), r["view"])  # noqa: E731
    base = {key(r): r for r in csv.DictReader(open(base_csv))}
    for r in rows:
        b = base.get(key(r))
        if b is not None and str(b["met"]) != str(r["met"]):
            print(f"  {'BETTER' if str(r['met']) == '1' else 'WORSE'}: {key(r)} {b['exact'] or 'refused'} -> "
                  f"{r['exact'] or 'refused'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=SETS)
    ap.add_argument("--doses", type=float, nargs="+", default=[1e5, 2e4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--csv", help="write one row per view-count here")
    ap.add_argument("--compare", help="a CSV this benchmark wrote before: list the view-counts that changed status")
    ap.add_argument("--quick", action="store_true", help="noise seed 0 only")
    ap.add_argument("--wrong-doses", type=float, nargs="*", default=[],
                    help="also give these factors × the true dose (e.g. 0.8 0.85 1.15 1.2): each must be refused or "
                         f"counted within {100 * QUIET_WRONG:.0f} % of the true total")
    ap.add_argument("--surface", choices=["off", "pooled", "fit"],
                    help="the surface term of the libraries in the fit's units (library.table.FITTED_SURFACE): none, "
                         "its pooled slope, or each view's own fitted about it (the default)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    wrong = []
    rows = [r for name in args.sets
            for r in count_set(name, args.doses, [0] if args.quick else args.seeds, args.wrong_doses, wrong,
                               {"off": False, "pooled": True, "fit": "fit", None: None}[args.surface])]
    report(rows)
    if args.wrong_doses:
        quiet = [w for w in wrong if "QUIET" in w[4]]
        print(f"wrong doses: {len(quiet)} of {len(wrong)} counted quietly more than {100 * QUIET_WRONG:.0f} % off "
              f"the true total, {sum('WARNED' in w[4] for w in wrong)} with a warning, "
              f"{sum(w[4] == 'refused' for w in wrong)} refused")
        for name, dose, seed, f, outcome in wrong:
            print(f"  {name} {dose:.0e} s{seed} × {f}: {outcome}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
    if args.compare:
        compare(rows, args.compare)


if __name__ == "__main__":
    main()
