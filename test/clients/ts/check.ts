// A program written against the TypeScript client that openapi-typescript
// and openapi-fetch make of openapi.yaml (default options; .ci/clients
// generates gen/pushgate.d.ts and type-checks this file with strict on). It
// creates a bucket with every credential type and sends a data context,
// with no casts: a schema that cannot type a valid request fails to
// compile here.
import createClient from "openapi-fetch";
import type { components, paths } from "./gen/pushgate.js";

type Credential = components["schemas"]["Credential"];
type Receiver = components["schemas"]["Receiver"];

export const credentials = (keys: {
  p8: string;
  certPem: string;
  certKeyPem: string;
  serviceAccountKey: string;
  vapidPublic: string;
  vapidPrivate: string;
}): Credential[] => [
  {
    type: "apns_token",
    payload: { key: keys.p8, keyId: "ABCDE12345", teamId: "TEAM123456", appBundleId: "com.example.app", production: false },
  },
  { type: "apns_cert", payload: { cert: keys.certPem, key: keys.certKeyPem } },
  {
    type: "fcm_v1",
    payload: {
      type: "service_account",
      project_id: "example-project",
      private_key: keys.serviceAccountKey,
      client_email: "pusher@example-project.iam.gserviceaccount.com",
      token_uri: "https://oauth2.googleapis.com/token",
    },
  },
  { type: "hms", payload: { appId: "104520117", appSecret: "an-app-secret" } },
  { type: "vapid", payload: { publicKey: keys.vapidPublic, privateKey: keys.vapidPrivate, subject: "mailto:ops@example.com" } },
  { type: "websocket", payload: {} },
];

export async function sendEverywhere(baseUrl: string, apiKey: string, creds: Credential[]): Promise<string[]> {
  const client = createClient<paths>({ baseUrl, headers: { "x-token": apiKey } });
  const bucket = await client.POST("/v1/bucket", {
    body: { providerCredentials: creds, callbackConfig: { type: "none" } },
  });
  if (bucket.error) {
    throw new Error(`create bucket: ${bucket.error.code}: ${bucket.error.errors.join("; ")}`);
  }
  const bucketId = bucket.data.bucketId;
  const ids = bucket.data.credentials.map((c) => c.id);
  const context = await client.POST("/v1/bucket/{bucketId}/context/data", {
    params: { path: { bucketId } },
    body: { title: "Hello", body: "From a generated client", badge: 3, ttl: 3600, vibrate: [100, 50, 100], actions: [{ action: "open", title: "Open" }] },
  });
  if (context.error) {
    throw new Error(`create context: ${context.error.code}`);
  }
  const [apnsToken, apnsCert, fcm, hms, vapid, websocket] = ids;
  if (!apnsToken || !apnsCert || !fcm || !hms || !vapid || !websocket) {
    throw new Error("create bucket: a credential is missing");
  }
  const token = "a".repeat(64);
  const receivers: Receiver[] = [
    { credentialId: apnsToken, token },
    { credentialId: apnsCert, token },
    { credentialId: fcm, token: "fcm-token:APA91b" },
    { credentialId: hms, token: "IQAAAACy0", type: "hms/android" },
    { credentialId: vapid, endpoint: "https://push.example.com/send/1", p256dh: "BEl6", auth: "k3R" },
    { credentialId: websocket, userId: "user-42" },
  ];
  const sent = await client.POST("/v1/bucket/{bucketId}/context/{contextId}/send", {
    params: { path: { bucketId, contextId: context.data.contextId } },
    body: { receivers },
  });
  if (sent.error) {
    throw new Error(`send: ${sent.error.code}: ${sent.error.message}`);
  }
  return sent.data.results.map((r) => r.messageId ?? `refused: ${r.errors.join("; ")}`);
}
