// Lists clusters with the real Databricks JS SDK, configured by the environment only (the
// variables `dbxcred env --sdk` prints): DATABRICKS_HOST, DATABRICKS_AUTH_TYPE=metadata-service,
// DATABRICKS_METADATA_SERVICE_URL. Repeats every INTERVAL seconds for DURATION seconds, printing
// one JSON line per round; never prints a token. Exit 0 when every round succeeded.
//   node databricks_clusters.js DURATION INTERVAL
"use strict";
const { WorkspaceClient } = require("@databricks/sdk-experimental");

async function main() {
  const duration = Number(process.argv[2] || 0);
  const interval = Number(process.argv[3] || 1);
  const client = new WorkspaceClient({});
  const started = Date.now();
  let round = 0;
  for (;;) {
    const clusters = [];
    for await (const c of client.clusters.list({})) clusters.push(c.cluster_id);
    console.log(JSON.stringify({ ok: true, round, t: (Date.now() - started) / 1000, clusters }));
    round += 1;
    if ((Date.now() - started) / 1000 + interval > duration) break;
    await new Promise((r) => setTimeout(r, interval * 1000));
  }
}

main().catch((e) => {
  // Error messages from the SDK name the URL and status, not the token.
  console.log(JSON.stringify({ ok: false, error: String(e && e.message ? e.message : e) }));
  process.exit(1);
});
