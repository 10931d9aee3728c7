// client.ts: a client generated from the OpenAPI document (openapi-typescript's types for
// openapi-fetch) calling every route of a running mesh: tsc checks each call and each answer
// against the document's types, and at run time each status must be the one expected and one the
// document lists for the operation, and each JSON answer must have the fields its schema has, in
// schema order.
//
// usage: node out/client.js PHASE, with CLEAVE_TEST_EDGE_URL (http://HOST:PORT) and
// CLEAVE_OPENAPI_DOC (the document's file) in the environment. PHASE is what the mesh is like:
//   up      every service up, freshly seeded: every route, every OPTIONS, 404, 405, 413, 415...
//   frozen  the posts service stopped (SIGSTOP): its routes 504, others answer
//   down    the posts service gone: its routes 503 at once, others answer
// Exit status 0 if every check held; 1 with a line per failed one.
import fs from "node:fs";

import createClient from "openapi-fetch";

import type { components, paths } from "./api.js";

type User = components["schemas"]["users.User"];
type Thread = components["schemas"]["threads.Thread"];
type Post = components["schemas"]["posts.Post"];
type ApiError = components["schemas"]["Error"];

type Schema = { $ref?: string; type?: string; properties?: Record<string, Schema>;
  items?: Schema; required?: string[] };
type Operation = { responses: Record<string, unknown> };
type Document = { paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> } };

const base = process.env.CLEAVE_TEST_EDGE_URL ?? "";
const docFile = process.env.CLEAVE_OPENAPI_DOC ?? "";
const phase = process.argv[2] ?? "";
const doc = JSON.parse(fs.readFileSync(docFile, "utf8")) as Document;
const client = createClient<paths>({ baseUrl: base });
const failures: string[] = [];
const called = new Set<string>(); // "METHOD template" of every operation called
let checks = 0;

function fail(what: string): void {
  failures.push(what);
}

// brief is a value as JSON, cut to 300 characters.
function brief(value: unknown): string {
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

// expect checks an answer of method on template (a path of the document): its status is want
// and one the document lists for the operation.
function expect(method: string, template: string, response: Response, want: number): void {
  const what = `${method} ${response.url.slice(base.length)}`;
  const op = doc.paths[template]?.[method.toLowerCase()];
  checks++;
  called.add(`${method} ${template}`);
  if (response.status !== want)
    fail(`${what}: status ${response.status}, want ${want}`);
  if (op === undefined)
    fail(`${what}: the document has no operation ${method} ${template}`);
  else if (!(String(response.status) in op.responses))
    fail(`${what}: status ${response.status} is not among the document's for ${method} ` +
      `${template} (${Object.keys(op.responses).join(", ")})`);
  if (!/^[0-9a-f]{16}$|^[A-Za-z0-9._:-]{1,128}$/.test(response.headers.get("x-request-id") ?? ""))
    fail(`${what}: no X-Request-Id`);
}

// schemaOf follows a $ref.
function schemaOf(s: Schema): Schema {
  const name = s.$ref?.replace("#/components/schemas/", "");
  return name !== undefined ? doc.components.schemas[name] ?? {} : s;
}

// shape checks value against a reply's schema as the edge writes it: every property, in order.
function shape(what: string, schema: Schema, value: unknown): void {
  const s = schemaOf(schema);
  checks++;
  if (s.type === "array") {
    if (!Array.isArray(value))
      return fail(`${what}: not an array`);
    value.forEach((v, i) => shape(`${what}[${i}]`, s.items ?? {}, v));
  } else if (s.type === "object") {
    const want = Object.keys(s.properties ?? {});
    const got = value !== null && typeof value === "object" ? Object.keys(value) : [];
    if (JSON.stringify(got) !== JSON.stringify(want))
      fail(`${what}: fields ${got.join(",")}, the schema's are ${want.join(",")}`);
  } else if (s.type === "integer" && !Number.isInteger(value)) {
    fail(`${what}: ${JSON.stringify(value)} is not an integer`);
  }
}

// errorBody checks an error answer's body is the Error schema.
function errorBody(what: string, error: ApiError | undefined, code: string): void {
  shape(what, { $ref: "#/components/schemas/Error" }, error);
  if (error?.code !== code)
    fail(`${what}: code ${error?.code}, want ${code} (${error?.message})`);
}

// allowOf is the Allow the document gives a path (its OPTIONS answer's).
function allowOf(template: string): string {
  const options = doc.paths[template]?.options?.responses["204"] as
    { headers?: { Allow?: { example?: string } } } | undefined;
  return options?.headers?.Allow?.example ?? "?";
}

async function edgeRoutes(): Promise<void> {
  let r = await client.GET("/", { parseAs: "text" });
  expect("GET", "/", r.response, 200);
  if (r.data !== "Ready to receive requests")
    fail(`GET /: ${r.data}`);
  r = await client.GET("/api", { parseAs: "text" });
  expect("GET", "/api", r.response, 200);
  const d = await client.GET("/api/openapi.json");
  expect("GET", "/api/openapi.json", d.response, 200);
  if (JSON.stringify(d.data) !== JSON.stringify(doc))
    fail("GET /api/openapi.json: not the document given in CLEAVE_OPENAPI_DOC");
}

async function users(): Promise<void> {
  const all = await client.GET("/api/users");
  expect("GET", "/api/users", all.response, 200);
  shape("GET /api/users", { type: "array", items: { $ref: "#/components/schemas/users.User" } },
    all.data);
  const first: User | undefined = all.data?.[0];
  if (first?.username !== "marceline")
    fail(`GET /api/users: the first user is ${first?.username}`);
  const page = await client.GET("/api/users", { params: { query: { limit: 2, after: 1 } } });
  expect("GET", "/api/users", page.response, 200);
  const link = page.response.headers.get("link");
  if (page.data?.length !== 2 || link !== '</api/users?limit=2&after=3>; rel="next"')
    fail(`GET /api/users?limit=2&after=1: ${page.data?.length} users, Link ${link}`);
  const over = await client.GET("/api/users", { params: { query: { limit: 1001 } } });
  expect("GET", "/api/users", over.response, 400);
  errorBody("GET /api/users?limit=1001", over.error, "INVALID_ARGUMENT");

  const one = await client.GET("/api/users/{id}", { params: { path: { id: 2 } },
    headers: { "X-Request-Id": "openapi-client.1" } });
  expect("GET", "/api/users/{id}", one.response, 200);
  shape("GET /api/users/2", { $ref: "#/components/schemas/users.User" }, one.data);
  if (one.data?.name !== "Finn 'the Human' Mertens")
    fail(`GET /api/users/2: ${brief(one.data)}`);
  if (one.response.headers.get("x-request-id") !== "openapi-client.1")
    fail("GET /api/users/2: the request's X-Request-Id did not come back");
  const none = await client.GET("/api/users/{id}", { params: { path: { id: 999999 } } });
  expect("GET", "/api/users/{id}", none.response, 404);
  errorBody("GET /api/users/999999", none.error, "NOT_FOUND");

  const body = { username: `client_${process.pid}`, name: "Typed Client", bio: "made by client.ts" };
  const made = await client.POST("/api/users", { body,
    params: { header: { "Idempotency-Key": `client-${process.pid}` } } });
  expect("POST", "/api/users", made.response, 201);
  shape("POST /api/users", { $ref: "#/components/schemas/users.User" }, made.data);
  const id: number | undefined = made.data?.id;
  if (made.response.headers.get("location") !== `/api/users/${id}`)
    fail(`POST /api/users: Location ${made.response.headers.get("location")}, id ${id}`);
  const again = await client.POST("/api/users", { body,
    params: { header: { "Idempotency-Key": `client-${process.pid}` } } });
  expect("POST", "/api/users", again.response, 201);
  if (again.data?.id !== id)
    fail(`POST /api/users again with its key: id ${again.data?.id}, want ${id}`);
  const other = await client.POST("/api/users", { body: { ...body, bio: "another body" },
    params: { header: { "Idempotency-Key": `client-${process.pid}` } } });
  expect("POST", "/api/users", other.response, 409);
  errorBody("POST /api/users with a used key", other.error, "ABORTED");
  const taken = await client.POST("/api/users", { body: { username: "finn", name: "Finn" } });
  expect("POST", "/api/users", taken.response, 409);
  errorBody("POST /api/users finn", taken.error, "ALREADY_EXISTS");
  const bad = await client.POST("/api/users", { body: { username: "Not Valid", name: "x" } });
  expect("POST", "/api/users", bad.response, 400);
  errorBody("POST /api/users 'Not Valid'", bad.error, "INVALID_ARGUMENT");
  const text = await client.POST("/api/users", { body, headers: { "Content-Type": "text/plain" },
    bodySerializer: (b) => JSON.stringify(b) });
  expect("POST", "/api/users", text.response, 415);
  errorBody("POST /api/users as text/plain", text.error, "UNSUPPORTED_MEDIA_TYPE");
  const big = await client.POST("/api/users", { body: { ...body, bio: "x".repeat(70000) } });
  expect("POST", "/api/users", big.response, 413);
  errorBody("POST /api/users of 70 kB", big.error, "PAYLOAD_TOO_LARGE");
}

async function threads(): Promise<void> {
  const all = await client.GET("/api/threads", { params: { query: { limit: 1000 } } });
  expect("GET", "/api/threads", all.response, 200);
  shape("GET /api/threads",
    { type: "array", items: { $ref: "#/components/schemas/threads.Thread" } }, all.data);
  const one = await client.GET("/api/threads/{id}", { params: { path: { id: 1 } } });
  expect("GET", "/api/threads/{id}", one.response, 200);
  const thread: Thread | undefined = one.data;
  if (thread?.createdBy !== 4)
    fail(`GET /api/threads/1: ${brief(thread)}`);
  const made = await client.POST("/api/threads", { body: { title: "Typed", createdBy: 1 } });
  expect("POST", "/api/threads", made.response, 201);
  shape("POST /api/threads", { $ref: "#/components/schemas/threads.Thread" }, made.data);
  if (made.response.headers.get("location") !== `/api/threads/${made.data?.id}`)
    fail(`POST /api/threads: Location ${made.response.headers.get("location")}`);
  const orphan = await client.POST("/api/threads", { body: { title: "Typed", createdBy: 999999 } });
  expect("POST", "/api/threads", orphan.response, 400);
  errorBody("POST /api/threads by user 999999", orphan.error, "FAILED_PRECONDITION");
}

async function posts(): Promise<void> {
  const arrayOfPosts: { type: string; items: Schema } =
    { type: "array", items: { $ref: "#/components/schemas/posts.Post" } };
  const all = await client.GET("/api/posts");
  expect("GET", "/api/posts", all.response, 200);
  shape("GET /api/posts", arrayOfPosts, all.data);
  const one = await client.GET("/api/posts/{id}", { params: { path: { id: 6 } } });
  expect("GET", "/api/posts/{id}", one.response, 200);
  const post: Post | undefined = one.data;
  if (post?.thread !== 3 || post.user !== 1)
    fail(`GET /api/posts/6: ${brief(post)}`);
  const inThread = await client.GET("/api/posts/in-thread/{thread}",
    { params: { path: { thread: 2 }, query: { limit: 2 } } });
  expect("GET", "/api/posts/in-thread/{thread}", inThread.response, 200);
  shape("GET /api/posts/in-thread/2", arrayOfPosts, inThread.data);
  if (inThread.data?.map((p) => p.id).join(",") !== "3,4" ||
    inThread.response.headers.get("link") !== '</api/posts/in-thread/2?limit=2&after=4>; rel="next"')
    fail(`GET /api/posts/in-thread/2?limit=2: ${brief(inThread.data)}, Link ` +
      `${inThread.response.headers.get("link")}`);
  const byUser = await client.GET("/api/posts/by-user/{user}",
    { params: { path: { user: 1 }, query: { limit: 2 } } });
  expect("GET", "/api/posts/by-user/{user}", byUser.response, 200);
  if (byUser.data?.map((p) => p.id).join(",") !== "5,6")
    fail(`GET /api/posts/by-user/1?limit=2: ${brief(byUser.data)}`);
  const nobody = await client.GET("/api/posts/by-user/{user}",
    { params: { path: { user: 999999 } } });
  expect("GET", "/api/posts/by-user/{user}", nobody.response, 200);
  if (nobody.data?.length !== 0)
    fail(`GET /api/posts/by-user/999999: ${brief(nobody.data)}`);
  const made = await client.POST("/api/posts", { body: { thread: 1, text: "typed", user: 2 } });
  expect("POST", "/api/posts", made.response, 201);
  shape("POST /api/posts", { $ref: "#/components/schemas/posts.Post" }, made.data);
  if (made.response.headers.get("location") !== `/api/posts/${made.data?.id}`)
    fail(`POST /api/posts: Location ${made.response.headers.get("location")}`);
}

// everyPath asks OPTIONS of every path of the document (parameters filled with 1): 204 with the
// document's Allow; and a method the path does not allow: 405 with the same Allow.
async function everyPath(): Promise<void> {
  for (const template of Object.keys(doc.paths)) {
    const path = template.replace(/\{[^}]+\}/g, "1");
    const options = await fetch(base + path, { method: "OPTIONS" });
    expect("OPTIONS", template, options, 204);
    if (options.headers.get("allow") !== allowOf(template))
      fail(`OPTIONS ${path}: Allow ${options.headers.get("allow")}, the document's ` +
        `${allowOf(template)}`);
    const refused = await fetch(base + path, { method: "DELETE" });
    checks++;
    if (refused.status !== 405 || refused.headers.get("allow") !== allowOf(template))
      fail(`DELETE ${path}: ${refused.status}, Allow ${refused.headers.get("allow")}`);
    errorBody(`DELETE ${path}`, await refused.json() as ApiError, "METHOD_NOT_ALLOWED");
  }
  const unknown = await fetch(`${base}/api/nothing-here`);
  checks++;
  if (unknown.status !== 404)
    fail(`GET /api/nothing-here: ${unknown.status}`);
  errorBody("GET /api/nothing-here", await unknown.json() as ApiError, "NOT_FOUND");
}

// everyOperationCalled fails for each operation of the document the phase did not call.
function everyOperationCalled(): void {
  for (const [template, item] of Object.entries(doc.paths))
    for (const method of Object.keys(item).filter((m) => m !== "parameters"))
      if (!called.has(`${method.toUpperCase()} ${template}`))
        fail(`client.ts calls no ${method.toUpperCase()} ${template}: give it a call`);
}

async function postsGone(want: number, code: string): Promise<void> {
  const one = await client.GET("/api/posts/{id}", { params: { path: { id: 1 } } });
  expect("GET", "/api/posts/{id}", one.response, want);
  errorBody(`GET /api/posts/1 (posts ${phase})`, one.error, code);
  if (want === 503) {
    const made = await client.POST("/api/posts", { body: { thread: 1, text: "lost", user: 1 } });
    expect("POST", "/api/posts", made.response, 503);
    errorBody(`POST /api/posts (posts ${phase})`, made.error, code);
  }
  const user = await client.GET("/api/users/{id}", { params: { path: { id: 1 } } });
  expect("GET", "/api/users/{id}", user.response, 200);
}

async function main(): Promise<void> {
  if (base === "" || docFile === "")
    throw new Error("set CLEAVE_TEST_EDGE_URL and CLEAVE_OPENAPI_DOC");
  if (phase === "up") {
    await edgeRoutes();
    await users();
    await threads();
    await posts();
    await everyPath();
    everyOperationCalled();
  } else if (phase === "frozen") {
    await postsGone(504, "DEADLINE_EXCEEDED");
  } else if (phase === "down") {
    await postsGone(503, "UNAVAILABLE");
  } else {
    throw new Error(`no phase '${phase}' (up, frozen or down)`);
  }
  for (const f of failures)
    console.log(`FAIL: ${f}`);
  console.log(`client.ts ${phase}: ${checks} checks, ${failures.length} failed, ` +
    `${called.size} operations called`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main().catch((e: unknown) => {
  console.log(`client.ts ${phase}: ${e instanceof Error ? e.stack : String(e)}`);
  process.exitCode = 1;
});
