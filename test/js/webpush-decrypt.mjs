// Decrypts Web Push bodies that pushgate sent (captured by the Go test fake)
// with npm's http_ece, the reference implementation of RFC 8188, and checks
// that each payload is what a CORE service worker reads.
//
//   node test/js/webpush-decrypt.mjs DIR   (DIR holds webpush-*.json captures)
import { readdirSync, readFileSync } from 'node:fs';
import { createECDH } from 'node:crypto';
import { join } from 'node:path';
import ece from 'http_ece';

const dir = process.argv[2];
let passed = 0;
let failed = 0;

function check(name, cond, detail) {
  if (!cond) throw new Error(`${name}: ${detail}`);
}

for (const file of readdirSync(dir).filter((f) => f.startsWith('webpush-') && f.endsWith('.json')).sort()) {
  const c = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(c.privateKey, 'base64url'));
    check('key', ecdh.getPublicKey('base64url') === c.publicKey, 'private key does not match the subscription');
    const plain = ece.decrypt(Buffer.from(c.body, 'base64'), {
      version: 'aes128gcm',
      privateKey: ecdh,
      authSecret: c.authSecret,
    });
    check('plaintext', plain.equals(Buffer.from(c.payload, 'base64')), 'http_ece decrypted something else than the fake');
    const msg = JSON.parse(plain.toString('utf8'));
    const data = msg.data;
    check('data', data && typeof data === 'object', 'no data object');
    check('messageId', /^[0-9a-f-]{36}$/.test(data.messageId), `bad messageId ${data.messageId}`);
    check('contextId', /^[0-9a-f-]{36}$/.test(data.contextId), `bad contextId ${data.contextId}`);
    if (data._silent === true) {
      check('silent', msg.title === undefined, 'a silent push has a title');
    } else {
      check('title', typeof msg.title === 'string' && msg.title.length > 0, 'no title');
      // What the service worker passes to showNotification(title, options).
      for (const k of ['body', 'icon', 'image', 'badge', 'tag', 'lang', 'dir']) {
        check(k, msg[k] === undefined || typeof msg[k] === 'string', `${k} is not a string`);
      }
      for (const k of ['renotify', 'requireInteraction', 'silent']) {
        check(k, msg[k] === undefined || typeof msg[k] === 'boolean', `${k} is not a boolean`);
      }
      if (msg.actions !== undefined) {
        check('actions', Array.isArray(msg.actions) && msg.actions.every((a) => a.action && a.title), 'malformed actions');
      }
      if (data.actionsMap !== undefined) {
        check('actionsMap', Object.values(data.actionsMap).every((u) => typeof u === 'string'), 'actionsMap values must be URLs');
        for (const a of msg.actions || []) {
          check('actionsMap', a.action in data.actionsMap, `no URL for action ${a.action}`);
        }
      }
    }
    passed++;
  } catch (e) {
    failed++;
    console.error(`${file}: ${e.message}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
