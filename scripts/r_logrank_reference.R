#!/usr/bin/env Rscript
# Reference values of the late-entry log-rank test for tests/test_survival_logrank_r.py.
#
# crm_analysis.survival.compare_survival computes the log-rank test on left-truncated
# risk sets: a relationship is at risk of the departures at age t when entry < t <= exit
# (R's counting-process interval (start, stop]), with exact-ties (hypergeometric)
# variance. Its R peer is the score test of
#
#     coxph(Surv(entry, exit, event) ~ group, ties = "exact")$score
#
# Part 0 below shows why ties = "exact": on right-censored data (no entry) that score
# test equals survdiff's chisq, while Breslow's and Efron's do not. survdiff itself
# takes right-censored data only ("Right censored data only" for Surv(entry, exit, event)).
#
# Two boundary cases have the rule "entry moved an infinitesimal epsilon earlier":
# rows entering at age 0 are at risk from the origin (as in survdiff), and zero-length
# rows (entry == exit with a departure) are at risk at their own departure age only.
# R cannot take entry == exit (Surv() gives NA, coxph drops the row), so the script
# lowers the entry of those rows by EPS = 0.01, less than the gap between any two ages
# of the example (whole years), which gives the same risk sets as any smaller epsilon.
# (An epsilon much smaller than 1e-8 would be undone by coxph's timefix, which merges
# nearly equal times.)
#
# Needs only Debian's r-base-core and r-cran-survival. Run from anywhere:
#
#     Rscript scripts/r_logrank_reference.R
#
# The literals in the tests were printed by R 4.2.2 Patched (2022-11-10 r83330) with
# survival 3.5-3 (Debian bookworm r-base-core 4.2.2.20221110-2, r-cran-survival 3.5-3-1).
# Exact ties enumerate subsets of the tied departures: keep examples small (iter.max = 0:
# only the score test at beta = 0 is needed, no Newton steps).

suppressPackageStartupMessages(library(survival))

cat(R.version.string, "; survival", as.character(packageVersion("survival")), "\n")

# Example A: three groups, ages in whole years. Own sales enter at 0 (two of them leave
# at 0); walk-ins enter at ages that are also departure ages of others; six walk-ins
# are zero-length (a 3/3, b 1/1, b 2/2, b 4/4, c 5/5, c 6/6); departures are tied
# across groups.
ex <- data.frame(
  group = rep(c("a", "b", "c"), each = 10),
  entry = c(0, 0, 0, 0, 0, 0, 2, 3, 3, 5,
            0, 0, 0, 0, 1, 2, 2, 4, 4, 6,
            0, 0, 0, 1, 1, 3, 3, 5, 6, 6),
  exit  = c(0, 1, 2, 3, 3, 6, 3, 3, 5, 7,
            1, 2, 4, 5, 1, 2, 6, 4, 8, 9,
            0, 3, 4, 2, 6, 5, 7, 5, 6, 9),
  event = c(1, 1, 1, 1, 0, 1, 1, 1, 1, 0,
            1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
            1, 1, 0, 1, 1, 1, 1, 1, 1, 0)
)

# Example B: three groups with different hazards (a leaves slowly, b fast), ages in half
# years, 36 rows, drawn once with numpy (default_rng(5)) and written out here.
exb <- data.frame(
  group = rep(c("a", "b", "c"), each = 12),
  entry = c(0, 2.5, 2, 0, 1.5, 0, 2, 0, 0, 0, 0, 0,
            0, 1, 1.5, 0, 1, 1.5, 0, 4, 2.5, 0, 1.5, 0,
            0, 1, 0, 0, 0, 0, 0, 4, 0.5, 0, 0, 3.5),
  exit  = c(4.5, 2.5, 2.5, 2, 5.5, 2.5, 5, 2.5, 0, 2, 4.5, 0,
            1.5, 3, 3.5, 0.5, 3.5, 1.5, 2, 4.5, 3.5, 0, 1.5, 4,
            0, 1.5, 2, 9.5, 0, 2.5, 2, 4.5, 1.5, 2.5, 2, 4.5),
  event = c(1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0, 1,
            1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1,
            1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0)
)

EPS <- 0.01
with_eps <- function(d) {
  early <- d$entry == 0 | d$entry == d$exit
  d$entry_eps <- ifelse(early, d$entry - EPS, d$entry)
  cat("rows:", nrow(d), "; zero-length:", sum(d$entry == d$exit),
      "(of which at age 0:", sum(d$entry == d$exit & d$entry == 0), ")\n")
  d
}
ex <- with_eps(ex)
exb <- with_eps(exb)

p12 <- function(x) format(x, digits = 12)

score <- function(d, start) {
  d$g <- factor(d$group)
  fit <- coxph(Surv(d[[start]], d$exit, d$event) ~ g, data = d, ties = "exact",
               iter.max = 0)
  fit$score
}

tests <- function(d, start, label) {
  cat("\n##", label, "\n")
  cat("overall (df 2):", p12(score(d, start)), "\n")
  for (pair in list(c("a", "b"), c("a", "c"), c("b", "c"))) {
    cat(pair[1], "-", pair[2], "(df 1):",
        p12(score(d[d$group %in% pair, ], start)), "\n")
  }
}

# Part 0: no entry (durations from age 0): survdiff and the coxph score tests.
cat("\n## Part 0: example A ignoring entry, Surv(exit, event) ~ group\n")
sd <- survdiff(Surv(exit, event) ~ group, data = ex)
cat("survdiff chisq:", p12(sd$chisq), "\n")
for (ti in c("exact", "breslow", "efron")) {
  fit <- coxph(Surv(exit, event) ~ group, data = ex, ties = ti, iter.max = 0)
  cat("coxph score, ties =", ti, ":", p12(fit$score), "\n")
}

# Part 1: the rule of compare_survival: (entry, exit], with entry - EPS for rows that
# enter at 0 and for zero-length rows.
tests(ex, "entry_eps", "Part 1: example A, Surv(entry_eps, exit, event), ties exact")

# Part 2: R's default, zero-length rows dropped (they would be NA); no EPS needed, since
# without them nobody leaves at age 0.
tests(ex[ex$entry < ex$exit, ], "entry",
      "Part 2: example A without zero-length rows, Surv(entry, exit, event), ties exact")

# Part 3: example B, the rule of compare_survival as in part 1.
tests(exb, "entry_eps", "Part 3: example B, Surv(entry_eps, exit, event), ties exact")
