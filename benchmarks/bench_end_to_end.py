"""The whole chain on multislice images the project did not make (issue 17's end-to-end figures).

    PYTHONPATH=src python benchmarks/bench_end_to_end.py [--doses 1e5 2e4] [--seeds 0 1] [--runs 10] [--dose-given]
        [--set starter|sample|pbse_irregular|pbse_cuboctahedron_3nm|pbse_truncated_octahedron_3nm|pbse_truncated_cube_3nm
               |pbse_cuboid_3nm]

Images (``--set``): the starter set's PbSe truncated octahedron (default; ``shared/data/
multislice/pbse_truncated_octahedron``: abTEM, 300 kV, 24 mrad, 60-130 mrad, [100], [010],
[110], 704 Pb, 2 phonon configurations; PRISM and thermal vibrations of 0.09 Å Pb, 0.08 Å Se,
where the shipped library has plain multislice at room temperature's 0.134 / 0.110 Å: the
starter's cell-integrated signal (``fitting.cell_cross_sections`` of the noise-free images at the
true columns) is 1.050 / 1.050 / 1.056 × that library ([100] / [010] / [110]) and along [110]
drifts by -1.7 % per Pb atom (3-7 atoms 1.08-1.12, 9-11 atoms 1.00); against a library
simulated with the starter's vibrations the drift is gone (-0.2 % per atom) but the level is
0.940-0.954 (PRISM, slicing), and counted with it and the dose the starter does worse (common totals 663-712 /
704, [110] 0.574-0.743: its level lies ~5 % under what the dose and the fit's capture predict): measured
2026-12-04, fourth session.  The stored particles, made
with the library's own settings, are 0.981-1.029 with drifts within ±1.3 % per atom:
``tests/core/test_library.py``.  The starter is therefore counted with a library whose
shape is not its images'; a user's specimen needs the library of its own vibrations), the bundled sample's cuboctahedron (``sample``:
22 mrad, 60-140 mrad, 315 Pb, 4 configurations) or a particle stored with the tests
(``tests/core/data/multislice/<name>``); Poisson noise at each dose, given to the plugin
in detected electrons per pixel.
The tool alone does every step, with the defaults of the command line: find
(min distance 0.65 × the column spacing) and fit with the zone axis → types → hybrid counting with the
shipped abTEM library for these optics (one fitted scale for the three views, one Pb
total) → discrete tomography (annealing runs + exact optimum) → sites against the truth.

Printed per dose and seed: per view the exact fraction of the Pb-bearing columns
(as the tool types them: every column with a true Pb atom that it calls Pb-bearing)
against the image's counting ceiling and issue 17's target (ceiling - 0.03 at 1e5,
- 0.06 at 2e4), the Pb totals against the truth, the fitted scale against the true
one (dose × pixel²), and the reconstruction's recovered fraction of the true Pb sites
and true fraction of the model's atoms (target ≥ 0.95 both), with the times.

Session of 2026-12-06 13:49 UTC: a ⟨100⟩ family whose totals lie more than 6 % from the other views' is also
recounted with every Se sub-class equally likely (at its first scale and at every peak of its pair likelihood;
``counting/aliases.py``), and the agreeing recount nearest the others' total is kept.  Same fits, same count
(scratch ``score.py``): 20 → 11 of 336 view-counts under target, 9 better, none worse; the cube at 2e4 s2 on
target in every view with and without the dose (own totals 514 / 501 / 471 → 484 / 480 / 471; [100] 0.747 →
0.869-0.879), at 2e4 s0 [100] 0.808 → 0.909-0.919 (its [110] with the dose still 0.932 against 0.940); no-dose
scale / true 0.983-1.037 (beyond 3 % in 1 of 56 runs, was 3).  Left: the cube's 1e5 s2 [100] (0.808 against
0.859: its family agrees with [110], 465 / 473 / 471, so nothing is recounted), the starter's [110] (6), the 3 nm
cuboctahedron's [110] at 2e4 s3 (2).

Session of 2026-12-06 11:55 UTC: a mixed ⟨100⟩ column takes the Pb count of highest likelihood, every Pb count
equally likely and its Se sub-classes in the shares the pair fit gave them (``hybrid._pair_prior``; it took the
count of largest posterior with the fit's weight of every (n_Pb, n_Se) class).  Counted on the same fits of all
seven sets (scratch ``score.py``: this benchmark's ``fit_view`` fits, 1e5 and 2e4 e/Å², seeds 0-3, cached;
``count_views`` with and without the dose; 336 view-counts): under ceiling - margin 30 → 21 (refusals count their
3 views), none worse, mean exact +0.004.  Truncated cube: 2e4 s1 with the dose [100] / [010] / [110] 0.636 / 0.806
/ 0.890 → 0.869 / 0.932 / 0.932 (own totals 525 / 508 / 467 → 483 / 478 / 467), without it counted (was refused),
on target, scale / true 0.999; 1e5 s2 [100] 0.758 → 0.808 (0.859).  Starter [110] at 2e4 s2 (both modes) and 1e5
s2 with the dose reach target (0.693 → 0.703, 0.752 → 0.762).  Left: the cube at 2e4 s0 ([100] 0.808, [110] 0.932
against 0.819, 0.940; refused without the dose) and s2 (own ⟨100⟩ totals 514 / 501 against 471: every view under
target; at the family's prior peak, 0.859 × dose · pixel², [100] reads 498 and 0.697 exact, at 0.86 × 473 and
0.869: the pair fit's weights flip within 1 % of scale), 1e5 s2 [100]; the starter's [110] at 1e5 s2 (no dose),
s3, 2e4 s1; the 3 nm cuboctahedron's [110] at 2e4 s3.  Tried and not kept: every (n_Pb, n_Se) class equally
likely (the cube 15 → 1 under target, but the 3 nm cuboctahedron 2 → 16, truncated octahedron 0 → 6, starter 9 →
16: {111}-ended particles' columns are mostly Pb-ended, which the fitted shares know).  A core–shell core's
shell-corrected columns keep the posterior (``core_shell.MIXED_ASSIGNMENT``; scratch ``cs.py``: with the likelihood
6 of the 13 stored core–shell particles' 156 bound view counts at 1e5, seeds 0-3, went down, 2 up, 3 under 0.85
where the posterior leaves 1).  Then, without the dose, of several scales whose counts fit the particle's shape the
one the views' own scales fitted about it come back to within 5 % is kept (``views._self_consistent``): the cube at 2e4
s0, refused before (0.99 × and 1.10 × the truth both fit), is counted at 0.968 ± 0.042 × the truth (3D 1.000 / 0.994), common total 477 of
472, [010] on target, [100] 0.808 and [110] 0.932 under (as with the dose), the views' disagreement warned of; every
other run identical (``score.py``: 20 of 336 view-counts under target).

Session of 2026-12-05 19:53 UTC: a ⟨100⟩ family whose view totals lie more than 6 % from the [110] view's is
recounted at the peak of its (n_Pb, n_Se) likelihood where they agree (``counting/aliases.py``).  Counted on the
same fits (scratch ``evalc.py``: this benchmark's ``fit_view`` fits of 1e5 and 2e4 e/Å², seeds 0-3, cached;
``count_views`` without / with the dose; views under ceiling - margin): truncated cube 21 / 21 → 4 (and 2 runs
refused: no-dose 2e4 s0, s1, asking for the dose) / 9; the ⟨100⟩ own totals 469-525 (were 495-525) against 472.
Left: 1e5 s2 [100] 0.758 (0.859), 2e4 s0-s2 (the alias of the comb nearest the [110] total still reads some
Se-ended columns a Pb high, or none comes within 3 %).  The 3 nm cuboctahedron, irregular particle, truncated
octahedron, sample and starter set: identical view by view (none of their families is 6 % off, or no alias
agrees).  Untuned: ``--set pbse_cuboid_3nm`` (a 2.4 × 3.7 nm cuboid, 473 Pb, made after the rule; 4 phonon
configurations, [110] 2): without the rule 24 / 24 views under target ([100] 0.752-0.860, [010] 0.605-0.704, [110]
0.620-0.747; ⟨100⟩ own totals 483-520), with it 2 / 2 (both [110] at 1e5, 0.861 and 0.848 against 0.869 and
0.856): ⟨100⟩ 0.840-0.967 every run on target, own totals 467-483, no-dose scale / true 0.991-1.014.

Session of 2026-12-05 22:57 UTC: the cuboid's [110] brought to 4 phonon configurations (as its ⟨100⟩ views), fitted
anew and counted by the same scratch ``evalc.py`` (no change to the counting's results in between: the session's
speed-up counts identically): **0 of 24 views under target in both modes** ([100] 0.884-0.950 against ceilings
0.876-0.934, [010] 0.827-0.901 against 0.827-0.889, [110] 0.886-0.975 against 0.911-0.962; the least margin over
target 0.009, [110] without the dose); own totals 466-483, common 470-473 of 473; no-dose scale / true 0.983-0.997.
This benchmark, ``--set pbse_cuboid_3nm --doses 1e5 2e4 --seeds 0 1 --runs 4`` (no dose): every view on target,
scale / true 0.987-0.994, common totals 470-473; 3D true sites 1.000 in all four runs, model true 1.000 / 1.000 /
1.000 / 0.996.

Untuned, 2026-12-05 (session from 11:25 UTC): ``--set pbse_truncated_cube_3nm --doses 1e5 2e4 --seeds 0 1 2 3
--runs 4`` (a 3.1 nm truncated cube, 472 Pb, simulated after the rules below and measured before any change; counts
with the dose identical, scratch runs on the same fits).  With its first 3 phonon configurations: views under ceiling
- margin in 19 of 24 ([100] 0.646-0.798, [010] 0.718-0.845, [110] 0.740-0.849), scale / true 0.976-0.995, common
totals 477-487 / 472 (2e4 s3 3.2 % over), true sites 0.970-1.000, model true 0.979-0.994.  With all 8: ceilings rise
(⟨100⟩ 0.83-0.94, [110] 0.96-1.00) and the views under target are 21 of 24 ([100] 0.626-0.788, [010] 0.728-0.874,
[110] 0.808-0.932), scale / true 0.964-0.975 (6 of 8 beyond 3 %), totals 476-486, true sites 0.987-1.000, model true
0.979-0.994.  The views' own totals: [100] 1.10-1.11 ×, [010] 1.05-1.08 ×, [110] 0.99-1.00 × the truth: the ⟨100⟩
library (cell units) does not follow this particle's mixed columns: noise averaged, its Pb-ended (6, 5) columns read
1.068 × library × capture and the Se-ended (5, 6) 1.024 ×, so half of the 24 (5, 6) columns of [100] read 6 Pb; a cube
has most ⟨100⟩ columns of one length (11 atoms: (5, 6) or (6, 5)), told apart only by the end atoms.

Session of 2026-12-05 09:12 UTC: the [110] views count with the library in the fit's units (``auto``:
``count_library.preferred_units``; shipped for 22 mrad, 60-140 mrad: ``make_libraries.py --only tests --zones 110
--every-column --units fitted --phonons 4 --seed 3``, 571 s beside other work) and the no-dose scale settles at the
family-weighted mean of the views' own scales fitted about the chosen alias when they lie within 5 %
(``views._settled_scale``).  Counted on the same fits (the tool's fits of the four 22 mrad sets at 1e5 and 2e4, seeds
0-3, with and without the dose; 192 view-counts per code): views under ceiling - margin 9 → 2 (left: the 3 nm
cuboctahedron's [110] at 2e4 s3, 0.747 without / 0.758 with the dose, target 0.775; gone: its [110] at 2e4 s1 and s2
without the dose and s2 with it, its [100] and [010] at 2e4 s3 with the dose, the truncated octahedron's [110] at 1e5
s1, 0.957 → 0.971, both ways); no-dose scale /
true 1.003-1.037 (cuboctahedron), 1.016-1.025 (irregular), 0.993-0.997 (truncated octahedron), 0.984-0.997 (sample):
beyond 3 % in 1 of 32 runs (the cuboctahedron at 2e4 s3, 1.037, where its views' own scales lie 0.983 and 1.146 ×
apart and it is not settled), 7 of 32 before.  The [110] library in fitted units for the starter's optics (24 mrad,
60-130 mrad, made the same way, 728 s) counted the starter's [110] worse (1e5 s0 with the dose 0.663, target 0.742):
its images have other vibrations (Pb 0.09 Å) than any library; not shipped, so the starter keeps the cell library.

Session of 2026-12-05 07:07 UTC, without the dose, ``--doses 1e5 2e4 --seeds 0 1 2 3 --runs 4`` on all five sets
(seeds 2 and 3 for the first time): the 3 nm cuboctahedron at 2e4 s3 took a one-count alias (its [110] view's own
scale 1.21 × the truth, its ⟨100⟩ views ~3 ×; at 1.21 × all three views agree on 486 of 568 Pb and the counted
thickness is 0.82 × the seen width, inside the old PLAUSIBLE 0.80-1.25): exact 0.331 / 0.349 / 0.187, 3D 0.769 /
0.993, reported as 1.210 ± 0.023.  The thickness/width ratio at the true scale lies 0.929-1.006 over the 40 runs, so
PLAUSIBLE became 0.90-1.11 (a count off in columns of n reads (n ∓ 1) / n: told apart up to n = 9): the shape's
proposal 1.047 × is kept, exact 0.926 / 0.865 / 0.758, 3D 0.998 / 0.995; the starter at 2e4 s2 goes from 1.017 (ratio
0.89) to 0.984 (1.01), [110] 0.564 → 0.693; every other run identical.  The scale's reported error now includes the
fit capture's 4 % (``views._with_capture_error``; it claimed 0.03-2 %, NaN where the shape chose): 0.037-0.049 × the
scale.  Scale / true over the 40 runs 0.936-1.047, seven beyond issue 17's 3 % (irregular 1e5 s3 1.032, 2e4 s0 1.037,
s2 1.041; cuboctahedron 1e5 s2 1.035, s3 1.036, 2e4 s3 1.047; starter 2e4 s3 0.936), each within 1.7 of its
reported errors.  Views under ceiling - margin: [110] only: truncated octahedron 1e5 s1 0.957 (0.970); cuboctahedron
2e4 s1 0.780 (0.808), s2 0.791 (0.808), s3 0.758 (0.775); starter 1e5 s2 0.683 (0.762), s3 0.653 (0.742), 2e4 s1
0.723 (0.742), s2 0.693 (0.702).  3D ≥ 0.987 / ≥ 0.990 in every run.

Session of 2026-12-05 02:09 UTC, scratch experiments (not kept; for planning; each wraps this benchmark or
``bench_core_shell.py``, the library swapped through ``NXTOMO_CACHE`` or ``CrossSectionLibrary.values`` patched).
The 22 mrad, 60-140 mrad [110] library again with ``simulate_library(..., seed=1)`` (8 configurations, 144 s) reads
+4.8 / +13.1 / +14.1 / +10.3 / +6.0 % at 1-5 Pb and +2-7 % to 12 Pb against the shipped one (seed 0), its Se -26 …
-4 %; with 32 configurations (``seed=2``, 582 s, standard errors 5.4 % at 1 Pb, 1.1-2.2 % from 4 Pb) the shipped
values lie within 3 % at 2-15 Pb (+5.1 % at 1): the shipped [110] library is a fortunate draw, and a fresh
8-configuration one moves the counts.  Counted with the 32-configuration library: the irregular particle's scale/true
0.996-1.011 (1.015-1.037 now), but the 3 nm cuboctahedron's [110] 0.846 / 0.846 / 0.747 / 0.780 and its scale up to
1.036, the truncated octahedron's [110] 0.942 / 0.957 at 1e5; the core-shell ``large`` core's [110] 0.755-0.898
(0.898-0.959 now).
The fit's capture against it rises with the count (``fit_capture.py`` with that cache: [110] Pb 0.879 / 0.914 / 0.895
/ 0.901 / 0.914 / 0.923 / 0.935 / 0.938 / 0.944 at 1-9 Pb on the four stored particles); its values times that
capture / 0.92 (a library in the fit's units, the capture measured on these same four particles): the 22 mrad sets
miss only the cuboctahedron's [110] at 2e4 s0 (0.736; 0.813 now) where now they miss three (the truncated
octahedron's [110] 0.971 at 1e5 s1, the cuboctahedron's 0.879 at 2e4 s1, the irregular scale 1.0255 at 2e4 s0, all on
target with it); the eleven core-shell particles (not those the capture was measured on) mostly as now or better
(``large`` [110] 0.959 / 0.959 / 0.918 / 0.959, island 12 / 11 / 12 / 12; the sample's [110] 0.919-0.973), a column or
two lower in single runs of ``exposed``, ``cube`` and ``octahedral``, every target as now.  Out of sample (each PbSe
particle counted with the capture measured on the other three) the PbSe gain goes: the truncated octahedron's [110]
0.957 at 1e5 s1 and the cuboctahedron's 0.736 at 2e4 s0 miss, and the irregular particle at 2e4 s0 is refused
without the dose (at the views' common scale its [110] columns need 0.85 × it); only the cuboctahedron's 2e4 s1
[110] (0.857) and the irregular particle's scale at the other runs (1.004-1.011) stay on target.  The shipped
library's noise and the one capture per type have been compensating each other; a converged library needs its
values in the fit's units.  A prototype of that (scratch: ``simulate_library(..., every_column=True, n_phonons=4,
scan_step_A=0.25, seed=3)`` with the whole supercell's signal kept per layer, 491 s; the mean image of each layer tiled
3 × 3 and fitted with ``fitting.fit_columns`` at the known columns, background fixed at 0 as on a particle): the slab's
own capture (fitted volume / cell signal) is 0.892 / 0.897 / 0.898 / 0.896 / 0.901 / 0.911 / 0.918 / 0.925 / 0.929 /
0.932 at 1-10 Pb, the particles' rise (above) without measuring on them.  Counted with those fitted volumes / 0.92 as
the [110] Pb values (nothing else changed): every view of the four 22 mrad PbSe sets on target with and without the
dose (the truncated octahedron's [110] at 1e5 s1 0.971, the cuboctahedron's 0.846 / 0.857 at 2e4, the irregular
scale 1.002-1.014), but the cuboctahedron's scale 1.036 at 1e5 s0 and s1 (1.018 / 1.027 now); the core-shell ``large``
core's [100] 0.816-0.947 and [110] 0.755-0.918 (a view below 0.85 in three of four runs), the others as now within
a column or two (the octahedral island 10 / 10 / 10 / 11): the core-shell shell model was measured with the shipped
library and moves with it.  Smoothing the shipped one-element entries instead (a cubic through 0 weighted by 1 /
sd²: residuals within 0.54 SE for Pb) fixed the same three misses but lifted the cuboctahedron's
scale to 1.036 at 1e5 s1 and dropped the ``large`` core's [110] to 0.735-0.898.

First session of 2026-12-05, with the views of one library (one zone-axis family) weighing as one view in the common
total (``counting.views.family_weights``: the ⟨100⟩ pair shares the library and its errors; both read Se-ended (n,
n + 1) columns as n + 1 Pb: the 3 nm cuboctahedron's true (5, 6) columns counted 6 in 5 of 14 ([100]) and 12 of 25
([010]) at 1e5 s1, the truncated octahedron's in 5 of 8 and 7 of 7), ``--doses 1e5 2e4 --seeds 0 1 --runs 4
--dose-given`` (1e5 s0 / 1e5 s1 / 2e4 s0 / 2e4 s1): the 3 nm cuboctahedron's [110] 0.879 / 0.868 / 0.813 / 0.868,
every view of it on target (two misses before); the truncated octahedron's [110] at 1e5 s1 0.957 (target 0.970;
0.942 before: common total 407, was 408), the rest on target; the starter's [110] at 2e4 s1 0.723 (target 0.742;
0.733 before), the rest on target; the irregular particle and the sample on target in every run; sites >= 0.9929,
model true >= 0.9901.  Without the dose the 3 nm cuboctahedron as with it but 2e4 s1 [110] 0.780 (target 0.808;
0.747 before); scale/true 1.018-1.029; the truncated octahedron, the starter, the irregular particle and the
sample as with the dose (the same one miss each for the first two), scale/true 0.975-1.009, 1.005-1.009,
1.015-1.037 (the irregular one 3.65 % off at 2e4 s0: its scale is the [110] view's Pb scale alone, the ⟨100⟩ views
fitting aliases ~4 ×, and it is now reported with that estimate's error, ± 1.7 %; it was NaN) and 0.986-0.998.
Developed looking at the 3 nm cuboctahedron and the truncated octahedron.

Tried the same session and not kept: libraries whose values average every column of the supercell
(``simulate_library(every_column=True)``, 8 configurations × 8 columns of each kind, 0.4 Å steps; made with
``benchmarks/multislice/make_libraries.py --only tests --every-column --step 0.4``: [100] 1178 s, [110] 1049 s on the
2 cores, both at once).  The shipped ones (one column of each kind, 8 configurations) carry ~5 % on each value: a
column's cell signal scatters ~15 % between configurations, and all the entries of one column kind share its
configurations, so the Se-first column's (n, n + 1) entries sit together 5-10 % above a fresh run's.  Against the
stored particles' cell signal (noise-free, true columns) the every-column library halves the gap between Se-ended
(n, n + 1) and Pb-ended (n + 1, n) columns (1-5 % where the shipped one leaves 2-8 %) and flattens the drift with the
count; but counting the fitted volumes with it is worse: the 3 nm cuboctahedron with the dose [110] 0.824 / 0.802 /
0.769 / 0.835 (three of four below target), [100] 0.868 at 1e5 s1, the [110] total 600 of 568 at 1e5 s1; the
truncated octahedron's [110] 0.928 at 1e5 s1.  The fit holds a share of each column's signal that grows with its
count (fitted volume / cell signal 0.78 at 1 Pb to 0.91 at 6 Pb along ⟨100⟩, 0.91-0.95 along [110]), which one
capture per type (``FIT_CAPTURE``) does not follow and the shipped library's shape happens to follow better.
Counting the cell signal instead of the fitted volume (both libraries) did not do better either.

Fifth session of 2026-12-04, after the views of one library ([100] and [010]) share the scale fitted on their
columns together (``counting.views._counted_at``; each alone, the [010] views of every stored particle took 0.95-0.98
× the dose's where [100] took 1.00-1.01, and read 2-5 % more Pb), ``--doses 1e5 2e4 --seeds 0 1 --runs 4`` with
``--dose-given`` (1e5 s0 / 1e5 s1 / 2e4 s0 / 2e4 s1; developed looking at the 3 nm cuboctahedron and the starter):

- ``pbse_cuboctahedron_3nm``: [100] 0.934 / 0.926 / 0.909 / 0.917 (all on target; 3 of 4 before), [010] 0.889 /
  0.881 / 0.849 / 0.857, [110] 0.868 / **0.857 (target 0.860)** / **0.791 (0.797)** / 0.846 (2 of 4; none before);
  views' own totals [572, 583, 566] … [573, 590, 564] (the [010] view 594-597 alone before), common 569-574 / 568;
  true sites 0.9965-0.9982, model true 0.9947-1.000.  Without the dose the same but 2e4 s1 [110] 0.747 (0.808);
  scale/true 1.018-1.029.
- ``pbse_truncated_octahedron_3nm``: unchanged, [110] 1e5 s1 **0.942 (0.970)**, the rest on target.
- ``starter``: [010] 1e5 s1 0.879 (on target; 0.860 before), **[110] 2e4 s1 0.733 (0.742; 0.743 before)**; totals
  711-715 / 704; sites 0.9915-1.000.  Without the dose the same; scale/true 1.005-1.009.
- ``pbse_irregular`` and ``sample``: every view on target in every run; without the dose scale/true 1.015-1.037
  (irregular; **3.65 % at 2e4 s0**, as before) and 0.986-0.998 (sample).

Untuned, 2026-12-04 (third session): ``--set pbse_truncated_octahedron_3nm --doses 1e5 2e4 --seeds 0 1 --runs 4``
(a 3.1 nm truncated octahedron, 404 Pb, 8 phonon configurations, simulated after the counting's last change and
measured once, nothing changed after), with ``--dose-given`` and without (the same counts): [100] 0.982 / 0.973 /
0.955 / 0.991, [010] 0.972 / 0.963 / 0.945 / 0.945, [110] 0.957 / **0.942 (target 0.970)** / 0.942 / 0.971 (1e5
s0 / 1e5 s1 / 2e4 s0 / 2e4 s1): 11 of 12 views on target; Pb totals 406-408 / 404; true sites 1.000, model true
0.995-1.000; without the dose scale/true 1.009 / 0.975 / 0.980 / 1.007.  The one miss is the common total: the
[110] view counted alone is exact (1.000, 404 Pb) and the mixed views' 410 / 411 pull it to 408 (four [110]
columns of 7-8 moved up by one).

Measured 2026-12-04 (second session), after a column below the ICL's window takes the count of highest likelihood
(``counting.hybrid._likelihood_classes``) and each count weighs in the tomography by its probability
(``count_probability``), ``--doses 1e5 2e4 --seeds 0 1 --runs 4`` with ``--dose-given`` and without: the starter
set's [110] 0.743 / 0.762 / 0.743 / 0.743 against 0.742 / 0.752 / 0.732 / 0.742 (met in 4 of 4; 2 of 4 before),
[010] 0.860 vs 0.868 at 1e5 seed 1 (as before), true sites 0.996-1.000, model true 0.996-0.997; the 3 nm
cuboctahedron's [110] 0.835 / 0.835 / 0.791 / 0.802 against 0.838 / 0.860 / 0.797 / 0.808 (0 of 4, 1-4
columns short), [100] 0.893 vs 0.896 at 1e5 seed 1, sites 0.975-1.000; the irregular particle and the sample
meet every target in every run (both with and without the dose); without the dose scale/true 1.018-1.029 (3 nm),
1.005-1.009 (starter), 1.015-1.037 (irregular: 3.7 % at 2e4 seed 0), 0.986-0.998 (sample).

Without the dose, with the particle's shape checking the scale (2026-12-04, ``counting.thickness``: the counted
thickness against the width an orthogonal view sees; each view's own scale corrected by its ratio tried too),
``--doses 1e5 2e4 --seeds 0 1 --runs 4``: the 3 nm cuboctahedron counted in 4 of 4 runs (refused in 4 of 4
before), scale/true 1.018 / 1.027 / 1.029 / 1.018, Pb totals 569-578 / 568, true sites 0.977-0.998, model true
0.967-0.998; the starter set in 4 of 4 (2 before), 1.005-1.009, totals 712-715 / 704, sites 0.996-0.997;
``--set pbse_irregular --seeds 0 1 2``: 6 of 6, 1.015-1.041 (as before); ``--set sample``: 4 of 4,
0.986-0.998.  The [110] views stay below ceiling - margin on the starter set (0.703-0.743 against
0.732-0.752) and the 3 nm cuboctahedron (0.747-0.835 against 0.797-0.860).

Measured (2026-12-04, counting each column by its likelihood with equal class weights, ``count_atoms``'s
default ``assignment``), ``--doses 1e5 2e4 --seeds 0 1 --dose-given --runs 4``: [110] 0.743 / 0.733 / 0.743 /
0.703 against targets 0.742 / 0.752 / 0.732 / 0.742 (met in 2 of 4 runs, none before), [100] 0.911-0.924 (met),
[010] 0.847-0.885 (met in 3 of 4: 0.854 vs 0.868 at 1e5 seed 1), Pb totals 712-715 / 704, true sites
0.996-0.997, model true 0.999; the sample (``--set sample``, seeds 0 1 2) and the irregular particle (seeds 0 1 2)
meet every target in all 12 runs as before.  Without the dose on the starter set: 1e5 seed 0 and 2e4 seed 0
scale/true 1.005 / 1.007 (the majority of the views' scales); 1e5 seed 1 and 2e4 seed 1 refused, asking for the
dose (the [110] view's own scale aliases at 1.8 × and its totals agree too).
``--set pbse_cuboctahedron_3nm --doses 1e5 2e4 --seeds 0 1 --dose-given --runs 4`` (a 3.1 nm cuboctahedron unlike
the sample, 568 Pb, made 2026-12-04, 3 phonon configurations): Pb totals 569-578 / 568, true sites 0.975-0.998,
model true 0.969-0.998; [100] 0.884-0.909 (on target in 3 of 4), [010] 0.794-0.881 (4 of 4), [110] 0.791-0.835
against targets 0.797-0.860 (0 of 4, 1-4 columns short).
Measured (2 cores, 2026-12-03), ``--dose-given --seeds 0 1``: Pb totals 709-716 / 704 at
1e5 and 2e4; exact Pb [100] 0.911-0.930 (ceilings 0.924-0.936, met), [010] 0.847-0.904
(ceilings 0.854-0.911; met in 3 of 4), [110] 0.485-0.703 (ceilings 0.772-0.802, NOT met);
true sites recovered 0.993-0.997, model atoms true 0.992-0.999; joint count 3.6-4.0 s for
the three views.  ``--set sample --dose-given --seeds 0 1 2`` (the bundled cuboctahedron,
4 phonon configurations): every view meets its target in all 6 runs (exact Pb [100]
0.951-0.988, [010] 0.930-0.977, [110] 0.902-0.967 against ceilings 0.918-0.988), Pb
totals 316-319 / 315, 100 % of the true sites and 99.7-100 % of the model true.
``--set pbse_irregular --dose-given --seeds 0 1 2`` (a particle unlike the samples, 606 atoms,
302 Pb): every view meets its target in all 6 runs ([100] 0.879-0.923, [010] 0.931-0.966,
[110] 0.928-0.957 against ceilings 0.879-0.971), Pb totals 299-302 / 302, true sites 0.993-1.000,
model true 0.990-0.997.
Without the dose on ``--set pbse_irregular --doses 1e5 2e4 --seeds 0 1 2`` (2026-12-04): the mixed views' own
scales alias (e.g. 4.1 and 2.9 × the truth at 1e5 seed 0), the [110] Pb one does not, and the scale at which
the three views' Pb totals agree is kept (``counting.views``): scale/true 1.018-1.025 at 1e5, 1.015-1.041 at
2e4 (4 of 6 runs within 3 %), Pb totals 299-302 / 302, every view meets its target in all 6 runs ([100]
0.879-0.923, [010] 0.931-0.966, [110] 0.928-0.971), true sites 0.993-1.000, model true 0.993-0.997.
Before (2026-12-03): without the dose (the views' own scales over the fit's capture, their median as the dose):
on the sample scale/true 0.974-1.001, every run 100 % of the sites; on the starter set
1.005-1.009 in 3 of 4 runs, and in the 4th (2e4, seed 1) the three views' own scales
disagree (0.77, 2.28, 1.79 × true) and counting refuses, asking for the dose.  The joint
count without a dose takes 13-40 s for three views (every window's free scale), with a
dose 2-4 s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from napari_nxtomo.core.columns import min_distance_for
from napari_nxtomo.core.counting import count_views
from napari_nxtomo.core.evaluation import match_columns, score_reconstruction
from napari_nxtomo.core.groundtruth import (
    SAMPLE_MULTISLICE_DIR, STARTER_VIEWS, counting_ceiling, load_multislice_view, load_starter_view, noisy_image,
)
from napari_nxtomo.core.workflow import find_and_fit, reconstruct_tables
from napari_nxtomo.core.workflow.count_library import library_for

STARTER = Path(__file__).resolve().parents[2] / "shared" / "data" / "multislice" / "pbse_truncated_octahedron"
TESTS_DATA = Path(__file__).resolve().parents[1] / "tests" / "core" / "data" / "multislice"
MARGIN = {1e5: 0.03, 2e4: 0.06}
OPTICS = {"energy_keV": 300.0, "convergence_mrad": 24.0, "detector_mrad": (60.0, 130.0)}


def true_pb_sites(folder: Path) -> tuple[np.ndarray, float]:
    """The true Pb sites in quarter-lattice units (a Pb site at the origin) and the lattice parameter."""
    d = np.load(folder / "truth.npz")
    a = float(d["a"])
    q = np.rint(d["positions"][d["numbers"] == 82] / (a / 4)).astype(int)
    return q, a


def load_set(name: str):
    """(views, one library per view, true Pb sites in quarter-lattice units, a) of an image set."""
    if name == "starter":
        views = [load_starter_view(STARTER, v) for v in STARTER_VIEWS]
        q, a = true_pb_sites(STARTER)
        return views, [library_for("PbSe", v.zone_axis, **OPTICS) for v in views], q, a
    folder = SAMPLE_MULTISLICE_DIR if name == "sample" else TESTS_DATA / name
    views = [load_multislice_view(folder, v) for v in ("100", "010", "110")]
    sim = views[0].meta["simulation"]
    optics = {"energy_keV": sim["energy_eV"] / 1e3, "convergence_mrad": sim["semiangle_cutoff_mrad"],
              "detector_mrad": tuple(sim["detector_mrad"])}
    atoms = pd.read_csv(folder / views[0].meta["particle"]["atoms_file"])
    a = float(views[0].meta["particle"]["lattice_parameter_A"])
    q = np.rint(atoms.loc[atoms["element"] == "Pb", ["x", "y", "z"]].to_numpy() / (a / 4)).astype(int)
    return views, [library_for("PbSe", v.zone_axis, **optics) for v in views], q, a


def fit_image(view, image, a=6.12):
    """The tool's fit of one image of a view (min distance as the command line sets it), the true column matched to
    each fitted one and its distance (Å)."""
    min_distance, _ = min_distance_for({"zone_axis": view.zone_axis, "lattice_parameter": a})
    table = find_and_fit(image, view.pixel_size, min_distance, zone_axis=view.zone_axis)
    table.attrs.update(zone_axis=list(view.zone_axis), lattice_parameter=a)  # as the images' metadata give them
    idx, dist = match_columns(table, view.columns)
    return table, view.columns.iloc[idx].reset_index(drop=True), dist


def fit_view(view, dose, seed, a=6.12):
    """:func:`fit_image` of one noisy view in detected electrons, and the fit's time."""
    image = noisy_image(view, dose, seed) * dose * view.pixel_size**2
    t0 = time.perf_counter()
    table, truth, _ = fit_image(view, image, a)
    return table, truth, time.perf_counter() - t0


def view_score(table, truth, res, dose):
    """(exact fraction of the true Pb-bearing columns the tool types Pb-bearing, the image's counting ceiling, issue
    17's target at the dose, the counted Pb total) of one counted view."""
    n_pb = truth["n_Pb"].to_numpy()
    pb = table["type"].str.contains("Pb").to_numpy()
    sel = (n_pb > 0) & pb
    ceil = counting_ceiling(n_pb[sel], table["volume"].to_numpy()[sel])
    exact = float(np.mean(res.counts[sel] == n_pb[sel]))
    return exact, ceil, ceil - MARGIN.get(dose, 0.03), int(res.counts[pb].sum())


def report_view(view, table, truth, res, dose):
    """One line: exact Pb-bearing fraction vs ceiling and target, Pb total vs truth."""
    n_pb = truth["n_Pb"].to_numpy()
    exact, ceil, target, total = view_score(table, truth, res, dose)
    missed = int(np.sum((n_pb > 0) & ~table["type"].str.contains("Pb").to_numpy()))
    print(f"  [{view.name}] {len(table)} columns, exact Pb {exact:.3f} vs ceiling {ceil:.3f} (target {target:.3f} "
          f"{'met' if exact >= target else 'NOT met'}); Pb total {total} / true {int(view.columns['n_Pb'].sum())}; "
          f"Pb columns typed otherwise {missed}")
    return exact >= target


def one_run(views, libraries, truth_q, a, dose, seed, n_runs, dose_given=False):
    fits = [fit_view(v, dose, seed, a) for v in views]
    tables = [f[0] for f in fits]
    t0 = time.perf_counter()
    given = {"dose": dose, "pixel_size": views[0].pixel_size} if dose_given else {}
    try:
        joint = count_views(tables, libraries, **given)
    except ValueError as err:  # the joint count refuses (no dose and the views' scales undetermined)
        print(f"{dose:.0e} seed {seed}: count refused: {str(err)[:300]} ... {str(err)[-700:]}")
        return
    t_count = time.perf_counter() - t0
    c_true = dose * views[0].pixel_size**2
    print(f"{dose:.0e} seed {seed}: fit {sum(f[2] for f in fits):.1f} s, joint count {t_count:.1f} s; scale/true "
          f"{joint.scale / c_true:.4f} ± {joint.scale_err / c_true:.4f}; Pb totals {joint.totals_independent} -> "
          f"{joint.totals}")
    for view, (table, truth, _), res in zip(views, fits, joint.results):
        report_view(view, table, truth, res, dose)
    counted = []
    for view, table, res in zip(views, tables, joint.results):
        t = table.copy()
        t["count"] = res.counts
        t["count_probability"] = res.probability  # as napari-nxtomo count writes it
        counted.append((t[["y", "x"]].to_numpy(), t, {"zone_axis": view.zone_axis}))
    t0 = time.perf_counter()
    try:
        result = reconstruct_tables(counted, a, names=[v.name for v in views], n_runs=n_runs, seed=seed)
    except ValueError as err:
        print(f"  reconstruct refused: {err}")
        return
    s = score_reconstruction(result, truth_q, n_runs=n_runs)
    print(f"  reconstruction ({time.perf_counter() - t0:.1f} s): {s['model_atoms']} atoms / {s['true_Pb_atoms']} "
          f"true; true sites recovered {s['true_sites_recovered_fraction']:.4f}, model atoms true "
          f"{s['model_atoms_that_are_true_fraction']:.4f} (targets 0.95)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doses", type=float, nargs="+", default=[1e5, 2e4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--set", default="starter", help="starter (default), sample, or a particle stored with the tests")
    ap.add_argument("--dose-given", action="store_true", help="give the dose to the counting (no fitted scale)")
    args = ap.parse_args(argv)
    views, libraries, truth_q, a = load_set(args.set)
    for dose in args.doses:
        for seed in args.seeds:
            one_run(views, libraries, truth_q, a, dose, seed, args.runs, args.dose_given)


if __name__ == "__main__":
    main()
