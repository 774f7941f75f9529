'use strict';
/**
 * Latency histograms for `npm run bench` (pure, no I/O; tested in test/bench/histogram.test.ts):
 * log-scale buckets 1 % wide from 10 µs, stored sparse ({ bucket: count }) so each run's JSON
 * report holds its whole latency distribution in a few hundred entries. The repetitions of a row
 * are merged, and the p99 of all their calls read from the merged histogram: at 1,000 calls/s a
 * 5 s window holds 5,000 calls, and one garbage-collection stall of ~25 ms (25 calls) is enough
 * to set that window's p99; three repetitions pooled hold 15,000.
 */

const BASE_MS = 0.01;
const FACTOR = 1.01;
const LOG_FACTOR = Math.log(FACTOR);

/** Bucket index of a latency: bucket i holds [BASE·FACTOR^i, BASE·FACTOR^(i+1)); 0 also takes anything below BASE. */
const bucketOf = (ms) => (ms <= BASE_MS ? 0 : Math.floor(Math.log(ms / BASE_MS) / LOG_FACTOR));

/** The upper edge of a bucket: a percentile read from the histogram is never below the true one by more than 1 %. */
const upperEdge = (bucket) => BASE_MS * FACTOR ** (bucket + 1);

/** A histogram of latencies in milliseconds. */
function histogramOf(latenciesMs) {
  const counts = {};
  for (const ms of latenciesMs) {
    const bucket = bucketOf(ms);
    counts[bucket] = (counts[bucket] || 0) + 1;
  }
  return counts;
}

/** The sum of several histograms (missing ones are skipped). */
function merge(histograms) {
  const counts = {};
  for (const histogram of histograms) {
    if (!histogram) continue;
    for (const [bucket, count] of Object.entries(histogram)) counts[bucket] = (counts[bucket] || 0) + count;
  }
  return counts;
}

const totalOf = (histogram) => Object.values(histogram).reduce((n, c) => n + c, 0);

/** Percentile p (0–100) by nearest rank, as bench/load.js's `percentile`, to within the bucket width; null when empty. */
function percentileOf(histogram, p) {
  const total = totalOf(histogram);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const bucket of Object.keys(histogram).map(Number).sort((a, b) => a - b)) {
    seen += histogram[bucket];
    if (seen >= rank) return upperEdge(bucket);
  }
  return null;
}

module.exports = { histogramOf, merge, percentileOf, totalOf };
