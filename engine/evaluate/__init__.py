"""One application: load a policy, decide, record the trace, build the result, run the policy's own example cases."""
