// Verifies captured webhook requests with npm's standardwebhooks (the
// Standard Webhooks reference library, not our code), checks that a
// tampered body fails, and prints the events of all batches as JSON.
//
//   node test/js/verify-webhooks.mjs SECRET FILE   (FILE: [{headers, body}])
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';

const [secret, file] = process.argv.slice(2);
const wh = new Webhook(secret);
const captures = JSON.parse(readFileSync(file, 'utf8'));
const events = [];
for (const [i, c] of captures.entries()) {
  // Verification is done with a timestamp tolerance of five minutes: the
  // captures are seconds old.
  const payload = wh.verify(c.body, c.headers);
  let tamperedPassed = true;
  try {
    wh.verify(c.body.replace('"messages"', '"Messages"'), c.headers);
  } catch {
    tamperedPassed = false;
  }
  if (tamperedPassed) {
    console.error(`capture ${i}: a tampered body verified`);
    process.exit(1);
  }
  for (const m of payload.messages) {
    events.push({ webhookId: c.headers['webhook-id'], messageId: m.messageId, foreignId: m.foreignId, kind: m.result.kind,
      reason: m.result.reason ?? '', action: m.result.action ?? '', ts: m.ts });
  }
}
console.log(JSON.stringify({ verified: captures.length, events }));
