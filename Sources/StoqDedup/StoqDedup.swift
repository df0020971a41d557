// Content-defined chunking and deduplication (issue 7).
