// Links, queues, forwarding.
