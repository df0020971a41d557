// Routing strategies and forwarding tables.
