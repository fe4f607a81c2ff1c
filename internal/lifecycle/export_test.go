package lifecycle

// Schedule is schedule, for the benchmarks.
var Schedule = (*Service).schedule
