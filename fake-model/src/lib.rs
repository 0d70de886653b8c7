//! A scripted OpenAI-compatible chat-completions server that rejects what real servers reject.
