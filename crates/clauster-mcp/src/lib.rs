//! Clauster as an MCP server.
#![forbid(unsafe_code)]
