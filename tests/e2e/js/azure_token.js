// Gets a token with the real @azure/identity ManagedIdentityCredential, configured by the
// environment only (the variables `dbxcred env --azure` prints): IDENTITY_ENDPOINT and
// IDENTITY_HEADER. Each round asks for SCOPE and, when CHECK_URL is given, calls it with the token
// (a Databricks API at the emulator) and reports the status. Prints one JSON line per round with
// a short SHA-256 fingerprint of the token, never the token. Exit 0 when every round succeeded.
//   node azure_token.js SCOPE DURATION INTERVAL [CHECK_URL]
"use strict";
const crypto = require("crypto");
const https = require("https");
const { ManagedIdentityCredential } = require("@azure/identity");

function get(url, token) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { headers: { Authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
  });
}

async function main() {
  const [scope, durationArg, intervalArg, checkUrl] = process.argv.slice(2);
  const duration = Number(durationArg || 0);
  const interval = Number(intervalArg || 1);
  const credential = new ManagedIdentityCredential();
  const started = Date.now();
  let round = 0;
  let failed = false;
  for (;;) {
    const token = await credential.getToken(scope);
    const line = {
      ok: true,
      round,
      t: (Date.now() - started) / 1000,
      fingerprint: crypto.createHash("sha256").update(token.token).digest("hex").slice(0, 8),
      expires_in: Math.round((token.expiresOnTimestamp - Date.now()) / 1000),
    };
    if (checkUrl) {
      line.status = await get(checkUrl, token.token);
      line.ok = line.status === 200;
    }
    failed = failed || !line.ok;
    console.log(JSON.stringify(line));
    round += 1;
    if ((Date.now() - started) / 1000 + interval > duration) break;
    await new Promise((r) => setTimeout(r, interval * 1000));
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, error: String(e && e.message ? e.message : e) }));
  process.exit(1);
});
