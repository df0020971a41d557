// Workloads and the runner.
