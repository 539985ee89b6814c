"""The learning agent's glue to the LLM flow: what it reads of a stream's analysis (issue 12)."""
