// The MCP end-to-end client (issue 24): the official TypeScript SDK's Client, driven by a
// plan the Rust test hands in, reporting everything it saw as one JSON line on stdout.
//
//   MCP_TRANSPORT   "stdio" (MCP_COMMAND + MCP_ARGS, a JSON array) or "http" (MCP_URL,
//                   MCP_TOKEN for the bearer header)
//   MCP_PLAN        JSON: {"phases": [[step, ...], ...]} where a step is
//                   {"call": name, "arguments": {...}} or {"read": uri}
//   MCP_WAIT_URL    between phases: print "PHASE <n> DONE" on stderr, then wait until this
//                   URL answers 200 (the test starts a server meanwhile)
//
// Found through NODE_PATH (the xtask's target/tools/npm-mcp/node_modules).
"use strict";

const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
const {
  StreamableHTTPClientTransport,
} = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

function transport() {
  if (process.env.MCP_TRANSPORT === "http") {
    const headers = {};
    if (process.env.MCP_TOKEN) {
      headers.Authorization = `Bearer ${process.env.MCP_TOKEN}`;
    }
    return new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
      requestInit: { headers },
    });
  }
  return new StdioClientTransport({
    command: process.env.MCP_COMMAND,
    args: JSON.parse(process.env.MCP_ARGS || "[]"),
    // The server reads its config from CLAUSTER_* variables and HOME.
    env: { ...process.env },
    stderr: "inherit",
  });
}

async function waitFor(url) {
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    try {
      const answer = await fetch(url);
      if (answer.status === 200) {
        return;
      }
    } catch (_) {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not answer within 60 s`);
}

async function step(client, s) {
  if (s.read) {
    try {
      const read = await client.readResource({ uri: s.read });
      return { read: s.read, contents: read.contents };
    } catch (err) {
      return { read: s.read, error: String(err && err.message) };
    }
  }
  try {
    const result = await client.callTool({ name: s.call, arguments: s.arguments || {} });
    const text = (result.content || []).map((c) => c.text || "").join("");
    return {
      call: s.call,
      isError: result.isError === true,
      text,
      structured: result.structuredContent === undefined ? null : result.structuredContent,
    };
  } catch (err) {
    return { call: s.call, protocolError: String(err && err.message) };
  }
}

async function main() {
  const plan = JSON.parse(process.env.MCP_PLAN || '{"phases": [[]]}');
  const client = new Client({ name: "clauster-e2e", version: "1.0.0" });
  await client.connect(transport());
  const report = {
    server: client.getServerVersion(),
    capabilities: client.getServerCapabilities(),
    instructions: client.getInstructions() || null,
    tools: (await client.listTools()).tools,
    resources: (await client.listResources()).resources,
    templates: (await client.listResourceTemplates()).resourceTemplates,
    phases: [],
  };
  for (let i = 0; i < plan.phases.length; i += 1) {
    if (i > 0 && process.env.MCP_WAIT_URL) {
      process.stderr.write(`PHASE ${i} DONE\n`);
      await waitFor(process.env.MCP_WAIT_URL);
    }
    const results = [];
    for (const s of plan.phases[i]) {
      results.push(await step(client, s));
    }
    report.phases.push(results);
  }
  await client.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((err) => {
  process.stderr.write(`client failed: ${err && err.stack}\n`);
  process.exit(1);
});
