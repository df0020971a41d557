// TrustChain (issue 5).
