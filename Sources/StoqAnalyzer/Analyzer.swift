// Trace records and statistics.
