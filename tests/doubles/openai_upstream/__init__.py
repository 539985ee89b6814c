"""Local stand-ins for OpenAI's servers, speaking their exact wire formats (tests, benches)."""
