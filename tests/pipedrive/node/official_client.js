#!/usr/bin/env node
// Pipedrive's official Node client (npm `pipedrive`, pinned in package.json) against a running
// flitstack sandbox: one typed call for every operation the sandbox serves, v1 and v2.
//
//   node official_client.js http://127.0.0.1:8765/api API_TOKEN
//
// Prints one JSON line per call: {api, method, ok, status, error}. `ok` means the call got the
// answer it should (a success envelope, or the expected error status) and the answer passed the
// call's check of its content. Exits 1 if any call is not ok, 2 on wrong arguments.
'use strict';

const { File } = require('node:buffer'); // global only from Node 20; Debian's may be 18
const v1 = require('pipedrive/v1');
const v2 = require('pipedrive/v2');

const [baseUrl, token] = process.argv.slice(2);
if (!baseUrl || !token) {
  process.stderr.write('usage: node official_client.js SANDBOX_API_URL API_TOKEN\n');
  process.exit(2);
}
const root = baseUrl.replace(/\/+$/, '');
const config = {
  v1: new v1.Configuration({ apiKey: token, basePath: `${root}/v1` }),
  v2: new v2.Configuration({ apiKey: token, basePath: `${root}/v2` }),
};

// The HTTP status of the latest answer. The client's own interceptors turn answers into their
// body (and errors into the error body), so a first interceptor notes the status before them.
let lastStatus = null;
function api(version, name) {
  const Api = (version === 'v1' ? v1 : v2)[name];
  if (typeof Api !== 'function') throw new Error(`pipedrive/${version} has no ${name}`);
  const instance = new Api(config[version]);
  instance.axios.interceptors.response.handlers.unshift({
    fulfilled: (response) => {
      lastStatus = response.status;
      return response;
    },
    rejected: (error) => {
      lastStatus = error && error.response ? error.response.status : null;
      return Promise.reject(error);
    },
    synchronous: false,
    runWhen: null,
  });
  return { version, name, instance };
}

const results = [];
function fail(message) {
  throw new Error(message);
}
function expect(condition, message) {
  if (!condition) fail(message);
}

// One typed call. `check(data, body)` may throw to fail it; `status` is an expected error.
async function call(target, method, params, check, status) {
  const entry = { api: `${target.version}.${target.name}`, method, ok: false, status: null, error: null };
  lastStatus = null;
  let body;
  try {
    if (typeof target.instance[method] !== 'function') fail(`no method ${method}`);
    body = params === undefined ? await target.instance[method]() : await target.instance[method](params);
    entry.status = lastStatus;
    if (status !== undefined) fail(`expected HTTP ${status}, got ${lastStatus}`);
    const binary = body instanceof ArrayBuffer || Buffer.isBuffer(body);
    if (!binary && !(body && body.success === true)) fail(`no success envelope: ${JSON.stringify(body).slice(0, 200)}`);
    if (check) await check(binary ? body : body.data, body);
    entry.ok = true;
  } catch (err) {
    entry.status = entry.status === null ? lastStatus : entry.status;
    if (status !== undefined && lastStatus === status && err && err.success === false) {
      entry.ok = true; // the error envelope Pipedrive answers with
    } else {
      const raw = err instanceof ArrayBuffer || Buffer.isBuffer(err) ? Buffer.from(err).toString('utf8') : null;
      entry.error = err instanceof Error ? err.message : (raw || JSON.stringify(err)).slice(0, 300);
    }
  }
  results.push(entry);
  process.stdout.write(`${JSON.stringify(entry)}\n`);
  return entry.ok ? body : undefined;
}
const data = (body) => (body ? body.data : undefined);

async function main() {
  const stamp = Date.now().toString(36);
  // --- v1: users and activity types ------------------------------------------------------------
  const users = api('v1', 'UsersApi');
  const me = data(await call(users, 'getCurrentUser', undefined, (d) => expect(d.id > 0, 'no id')));
  await call(users, 'getUsers', undefined, (d) => expect(Array.isArray(d) && d.some((u) => u.id === me.id), 'me not listed'));
  await call(users, 'getUser', { id: me.id }, (d) => expect(d.email === me.email, 'another user'));
  await call(users, 'getUser', { id: 987654 }, null, 404);
  await call(users, 'findUsersByName', { term: me.email, search_by_email: 1 }, (d) =>
    expect(d.length === 1 && d[0].id === me.id, 'not found by email'));
  await call(users, 'findUsersByName', { term: me.name.slice(0, 5) }, (d) =>
    expect(d.some((u) => u.id === me.id), 'not found by name'));
  await call(api('v1', 'ActivityTypesApi'), 'getActivityTypes', undefined, (d) =>
    expect(d.some((t) => t.key_string === 'call'), 'no call type'));

  // --- v2: custom fields (created first: records use them) --------------------------------------
  const fieldApis = {
    person: api('v2', 'PersonFieldsApi'),
    organization: api('v2', 'OrganizationFieldsApi'),
    deal: api('v2', 'DealFieldsApi'),
  };
  const fields = {};
  for (const [kind, fieldApi] of Object.entries(fieldApis)) {
    const Kind = kind[0].toUpperCase() + kind.slice(1);
    const added = data(await call(fieldApi, `add${Kind}Field`, {
      [`Add${Kind}FieldRequest`]: {
        field_name: `Source ${kind} ${stamp}`,
        field_type: 'enum',
        options: [{ label: 'Referral' }, { label: 'Walk-in' }],
      },
    }, (d) => expect(d.field_code.length === 40 && d.options.length === 2, 'not an enum field')));
    if (!added) continue;
    const code = added.field_code;
    fields[kind] = added;
    await call(fieldApi, `get${Kind}Fields`, { limit: 500 }, (d) =>
      expect(d.some((f) => f.field_code === code) && d.some((f) => !f.is_custom_field), 'fields missing'));
    await call(fieldApi, `get${Kind}Field`, { field_code: code }, (d) => expect(d.field_code === code, 'another field'));
    await call(fieldApi, `update${Kind}Field`, {
      field_code: code,
      [`Update${Kind}FieldRequest`]: { field_name: `How they found us (${kind})`, ui_visibility: { add_visible_flag: true } },
    }, (d) => expect(d.field_name === `How they found us (${kind})` && d.ui_visibility.add_visible_flag === true, 'not renamed'));
    const options = data(await call(fieldApi, `add${Kind}FieldOptions`, {
      field_code: code,
      AddDealFieldOptionsRequestInner: [{ label: 'Website' }, { label: 'Insurance list' }],
    }, (d) => expect(d.length === 2 && d[0].label === 'Website', 'options not added')));
    if (options) {
      await call(fieldApi, `update${Kind}FieldOptions`, {
        field_code: code,
        UpdateDealFieldOptionsRequestInner: [{ id: options[0].id, label: 'Web site' }],
      }, (d) => expect(d[0].label === 'Web site', 'option not renamed'));
      await call(fieldApi, `delete${Kind}FieldOptions`, {
        field_code: code,
        DeleteDealFieldOptionsRequestInner: [{ id: options[1].id }],
      }, (d) => expect(d.length === 1 && d[0].id === options[1].id, 'option not deleted'));
      await call(fieldApi, `get${Kind}Field`, { field_code: code }, (d) =>
        expect(d.options.map((o) => o.label).join('|') === 'Referral|Walk-in|Web site', `options: ${JSON.stringify(d.options)}`));
    }
  }
  const activityFields = api('v2', 'ActivityFieldsApi');
  await call(activityFields, 'getActivityFields', undefined, (d) => expect(d.some((f) => f.field_code === 'subject'), 'no subject'));
  await call(activityFields, 'getActivityField', { field_code: 'subject' }, (d) => expect(d.field_code === 'subject', 'another field'));
  // v1 field lists (Pipedrive still serves them)
  for (const [Name, kind] of [['PersonFieldsApi', 'person'], ['OrganizationFieldsApi', 'organization'], ['DealFieldsApi', 'deal']]) {
    const method = `get${Name.replace('sApi', 's')}`;
    await call(api('v1', Name), method, { start: 0, limit: 100 }, (d) =>
      expect(!fields[kind] || d.some((f) => f.key === fields[kind].field_code && f.options.length === 3), 'custom field missing'));
  }
  await call(api('v1', 'ActivityFieldsApi'), 'getActivityFields', undefined, (d) => expect(d.some((f) => f.key === 'subject'), 'no subject'));

  // --- v2: pipelines and stages ----------------------------------------------------------------
  const pipelines = api('v2', 'PipelinesApi');
  const stages = api('v2', 'StagesApi');
  const pipeline = data(await call(pipelines, 'addPipeline', { AddPipelineRequest: { name: `Treatment ${stamp}` } }));
  const pipelineId = pipeline && pipeline.id;
  await call(pipelines, 'getPipeline', { id: pipelineId }, (d) => expect(d.id === pipelineId, 'another pipeline'));
  await call(pipelines, 'getPipelines', { limit: 100 }, (d) => expect(d.some((p) => p.id === pipelineId), 'not listed'));
  await call(pipelines, 'updatePipeline', { id: pipelineId, UpdatePipelineRequest: { name: `Treatment plans ${stamp}`, is_deal_probability_enabled: true } },
    (d) => expect(d.name === `Treatment plans ${stamp}` && d.is_deal_probability_enabled === true, 'not updated'));
  const stage = data(await call(stages, 'addStage', { AddStageRequest: { name: 'Proposed', pipeline_id: pipelineId } }));
  const stageId = stage && stage.id;
  const won = data(await call(stages, 'addStage', { AddStageRequest: { name: 'Accepted', pipeline_id: pipelineId, deal_probability: 90 } }));
  await call(stages, 'getStage', { id: stageId }, (d) => expect(d.pipeline_id === pipelineId, 'another pipeline'));
  await call(stages, 'getStages', { pipeline_id: pipelineId }, (d) => expect(d.length === 2, `${d.length} stages`));
  await call(stages, 'updateStage', { id: stageId, UpdateStageRequest: { name: 'Presented', deal_probability: 40, is_deal_rot_enabled: true, days_to_rotten: 30 } },
    (d) => expect(d.name === 'Presented' && d.deal_probability === 40 && d.days_to_rotten === 30, 'not updated'));

  // --- v2: organizations, persons, deals, activities -------------------------------------------
  const orgs = api('v2', 'OrganizationsApi');
  const persons = api('v2', 'PersonsApi');
  const deals = api('v2', 'DealsApi');
  const activities = api('v2', 'ActivitiesApi');
  const custom = (kind) => (fields[kind] ? { [fields[kind].field_code]: fields[kind].options[0].id } : undefined);
  const org = data(await call(orgs, 'addOrganization', { AddOrganizationRequest: { name: `Smile Clinic ${stamp}`, custom_fields: custom('organization') } }));
  const orgId = org && org.id;
  await call(orgs, 'addOrganization', { AddOrganizationRequest: { name: `Other Clinic ${stamp}` } });
  await call(orgs, 'getOrganization', { id: orgId }, (d) => expect(d.name === `Smile Clinic ${stamp}`, 'another org'));
  await call(orgs, 'getOrganizations', { ids: String(orgId) }, (d) => expect(d.length === 1 && d[0].id === orgId, 'ids filter'));
  await call(orgs, 'updateOrganization', { id: orgId, UpdateOrganizationRequest: { name: `Smile Dental ${stamp}` } }, (d) => expect(d.name === `Smile Dental ${stamp}`, 'not renamed'));
  await call(orgs, 'searchOrganization', { term: `Smile Dental ${stamp}`, fields: 'name', exact_match: true }, (d) =>
    expect(d.items.length === 1 && d.items[0].item.id === orgId, 'not found'));

  const ann = data(await call(persons, 'addPerson', { AddPersonRequest: {
    name: `Ann Molar ${stamp}`, org_id: orgId, emails: [{ value: `ann.${stamp}@example.com`, primary: true, label: 'home' }],
    phones: [{ value: '+1 555 0100', primary: true, label: 'mobile' }], custom_fields: custom('person'),
  } }));
  const annId = ann && ann.id;
  const bob = data(await call(persons, 'addPerson', { AddPersonRequest: { name: `Bob Molar ${stamp}` } }));
  const bobId = bob && bob.id;
  await call(persons, 'getPerson', { id: annId }, (d) => expect(d.org_id === orgId && d.emails[0].value === `ann.${stamp}@example.com`, 'another person'));
  await call(persons, 'getPersons', { org_id: orgId }, (d) => expect(d.length === 1 && d[0].id === annId, 'org_id filter'));
  await call(persons, 'updatePerson', { id: bobId, UpdatePersonRequest: { name: `Bob Incisor ${stamp}` } }, (d) => expect(d.name === `Bob Incisor ${stamp}`, 'not renamed'));
  await call(persons, 'searchPersons', { term: `ann.${stamp}@example.com`, fields: 'email' }, (d) =>
    expect(d.items.length === 1 && d.items[0].item.id === annId, 'not found by email'));
  await call(persons, 'searchPersons', { term: stamp, organization_id: orgId }, (d) =>
    expect(d.items.length === 1 && d.items[0].item.id === annId && d.items[0].item.organization.id === orgId, `organization_id ignored: ${d.items.length} items`));

  const deal = data(await call(deals, 'addDeal', { AddDealRequest: {
    title: `Crown ${stamp}`, person_id: annId, org_id: orgId, pipeline_id: pipelineId, stage_id: stageId, value: 1200, currency: 'USD', custom_fields: custom('deal'),
  } }));
  const dealId = deal && deal.id;
  const wonDeal = data(await call(deals, 'addDeal', { AddDealRequest: { title: `Cleaning ${stamp}`, person_id: bobId, status: 'won' } }));
  const wonId = wonDeal && wonDeal.id;
  await call(deals, 'getDeal', { id: dealId }, (d) => expect(d.stage_id === stageId && d.value === 1200, 'another deal'));
  await call(deals, 'getDeals', { person_id: annId }, (d) => expect(d.length === 1 && d[0].id === dealId, 'person_id filter'));
  await call(deals, 'getDeals', { status: 'won', ids: `${dealId},${wonId}` }, (d) => expect(d.length === 1 && d[0].id === wonId, 'status filter'));
  await call(deals, 'updateDeal', { id: dealId, UpdateDealRequest: { stage_id: won && won.id, value: 1350 } }, (d) => expect(d.stage_id === (won && won.id) && d.value === 1350, 'not moved'));
  await call(deals, 'searchDeals', { term: stamp, status: 'won' }, (d) =>
    expect(d.items.length === 1 && d.items[0].item.id === wonId, `status ignored: ${d.items.length} items`));
  await call(deals, 'searchDeals', { term: stamp, person_id: annId }, (d) =>
    expect(d.items.length === 1 && d.items[0].item.id === dealId, `person_id ignored: ${d.items.length} items`));
  await call(deals, 'searchDeals', { term: stamp, organization_id: orgId }, (d) =>
    expect(d.items.length === 1 && d.items[0].item.id === dealId, `organization_id ignored: ${d.items.length} items`));

  const today = new Date().toISOString().slice(0, 10);
  const visit = data(await call(activities, 'addActivity', { AddActivityRequest: {
    subject: 'Recall visit', type: 'meeting', person_id: annId, deal_id: dealId, due_date: today, due_time: '09:30', duration: '00:45', note: 'Bring x-rays', done: true,
  } }));
  const visitId = visit && visit.id;
  const callBack = data(await call(activities, 'addActivity', { AddActivityRequest: {
    subject: 'Call back', type: 'call', person_id: annId, due_date: today, due_time: '10:00', note: 'About the crown',
  } }));
  const callId = callBack && callBack.id;
  await call(activities, 'getActivity', { id: visitId }, (d) => expect(d.done === true && d.deal_id === dealId, 'another activity'));
  await call(activities, 'getActivities', { person_id: annId, done: true }, (d) =>
    expect(d.length === 1 && d[0].id === visitId, `done=true ignored: ${d.length} activities`));
  await call(activities, 'getActivities', { person_id: annId, done: false }, (d) =>
    expect(d.length === 1 && d[0].id === callId, `done=false ignored: ${d.length} activities`));
  await call(activities, 'updateActivity', { id: callId, AddActivityRequest: { done: true, note: 'Called' } }, (d) => expect(d.done === true, 'not done'));

  // --- v1: notes and files -----------------------------------------------------------------------
  const notes = api('v1', 'NotesApi');
  const note = data(await call(notes, 'addNote', { AddNoteRequest: { content: 'Prefers mornings', person_id: annId } }));
  const noteId = note && note.id;
  await call(notes, 'getNote', { id: noteId }, (d) => expect(d.content === 'Prefers mornings', 'another note'));
  await call(notes, 'getNotes', { person_id: annId, start: 0, limit: 50 }, (d) => expect(d.length === 1 && d[0].id === noteId, 'person_id filter'));
  await call(notes, 'updateNote', { id: noteId, NoteRequest: { content: 'Prefers afternoons' } }, (d) => expect(d.content === 'Prefers afternoons', 'not updated'));

  const files = api('v1', 'FilesApi');
  const bytes = Buffer.from(`%PDF-1.4\n% consent form ${stamp}\n`);
  const file = data(await call(files, 'addFile', { file: new File([bytes], 'consent.pdf', { type: 'application/pdf' }), person_id: annId },
    (d) => expect(d.file_size === bytes.length && d.person_id === annId, 'wrong upload')));
  const fileId = file && file.id;
  await call(files, 'getFile', { id: fileId }, (d) => expect(d.file_name === 'consent.pdf', 'another file'));
  await call(files, 'getFiles', { start: 0, limit: 100 }, (d) => expect(d.some((f) => f.id === fileId), 'not listed'));
  await call(api('v1', 'PersonsApi'), 'getPersonFiles', { id: annId }, (d) => expect(d.length === 1 && d[0].id === fileId, 'not listed'));
  await call(files, 'updateFile', { id: fileId, name: 'Consent form.pdf' }, (d) => expect(d.name === 'Consent form.pdf', 'not renamed'));
  await call(files, 'downloadFile', { id: fileId }, (d) => expect(Buffer.from(d).equals(bytes), 'other bytes'));
  await call(files, 'deleteFile', { id: fileId }, (d) => expect(d.id === fileId, 'not deleted'));
  await call(files, 'getFile', { id: fileId }, null, 404);

  // --- deletes, children first -----------------------------------------------------------------
  await call(notes, 'deleteNote', { id: noteId });
  await call(activities, 'deleteActivity', { id: callId }, (d) => expect(d.id === callId, 'not deleted'));
  await call(activities, 'deleteActivity', { id: visitId });
  await call(deals, 'deleteDeal', { id: wonId }, (d) => expect(d.id === wonId, 'not deleted'));
  await call(deals, 'deleteDeal', { id: dealId });
  await call(persons, 'deletePerson', { id: bobId }, (d) => expect(d.id === bobId, 'not deleted'));
  await call(persons, 'deletePerson', { id: annId });
  await call(persons, 'getPerson', { id: annId }, null, 404);
  await call(orgs, 'deleteOrganization', { id: orgId }, (d) => expect(d.id === orgId, 'not deleted'));
  await call(stages, 'deleteStage', { id: stageId }, (d) => expect(d.id === stageId, 'not deleted'));
  await call(pipelines, 'deletePipeline', { id: pipelineId }, (d) => expect(d.id === pipelineId, 'not deleted'));
  for (const [kind, fieldApi] of Object.entries(fieldApis)) {
    const Kind = kind[0].toUpperCase() + kind.slice(1);
    if (fields[kind]) await call(fieldApi, `delete${Kind}Field`, { field_code: fields[kind].field_code });
  }
}

main()
  .catch((err) => {
    process.stdout.write(`${JSON.stringify({ api: 'script', method: 'main', ok: false, status: null, error: String(err && err.stack || err) })}\n`);
    results.push({ ok: false });
  })
  .finally(() => {
    const failed = results.filter((r) => !r.ok).length;
    process.stderr.write(`${results.length} calls, ${results.length - failed} ok, ${failed} failed\n`);
    process.exitCode = failed ? 1 : 0;
  });
