// Fidelity check: unmodified jsforce against sf-sandbox.
//
// Run by crates/sf-sandbox/tests/fidelity.rs with NODE_PATH pointing at the jsforce the
// project's set-up installs. Environment: SANDBOX_URL (login and instance URL),
// SANDBOX_USERNAME, SANDBOX_PASSWORD, SANDBOX_TOKEN, SANDBOX_CLIENT_ID,
// SANDBOX_CLIENT_SECRET. Logs in both ways jsforce offers (SOAP `login`, and the OAuth
// password flow when a client id and secret are given), then exercises query with paging,
// search, describe, create, update, upsert, collections, limits and an error case; and what
// callsync uses or will use: queryAll (scanAll), updated/ and deleted/, collection upsert
// with partial failure, person accounts, jsforce's own refresh-token handling after the
// session expires, and an exhausted daily allowance (REQUEST_LIMIT_EXCEEDED).
'use strict';

const jsforce = require('jsforce');

const url = process.env.SANDBOX_URL.replace(/\/$/, '');
const username = process.env.SANDBOX_USERNAME;
const password = process.env.SANDBOX_PASSWORD + process.env.SANDBOX_TOKEN;
const version = '59.0';

function check(condition, what) {
  if (!condition) {
    console.error(`FAIL: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

async function main() {
  // SOAP login (jsforce's default without OAuth client settings).
  const conn = new jsforce.Connection({ loginUrl: url, version });
  const info = await conn.login(username, password);
  check(info.id && info.organizationId, 'SOAP login answers user and org ids');
  check(conn.instanceUrl === url, 'the instance URL is the sandbox');

  // OAuth password flow.
  const oauthConn = new jsforce.Connection({
    oauth2: { loginUrl: url, clientId: process.env.SANDBOX_CLIENT_ID, clientSecret: process.env.SANDBOX_CLIENT_SECRET },
    version,
  });
  const oauthInfo = await oauthConn.login(username, password);
  check(oauthInfo.id === info.id, 'the OAuth password flow logs in the same user');

  // describe
  const describe = await conn.sobject('Task').describe();
  const names = describe.fields.map((field) => field.name);
  check(['CallObject', 'CallType', 'CallDurationInSeconds', 'WhoId'].every((name) => names.includes(name)), 'Task describe lists call fields');
  const global = await conn.describeGlobal();
  check(global.sobjects.some((object) => object.name === 'Lead'), 'global describe lists Lead');

  // create, update, retrieve
  const created = await conn.sobject('Contact').create({ LastName: 'Suzuki', FirstName: 'Ichiro', MobilePhone: '090-9876-5432' });
  check(created.success && created.id.startsWith('003'), 'create answers success');
  await conn.sobject('Contact').update({ Id: created.id, Title: 'Manager' });
  const fetched = await conn.sobject('Contact').retrieve(created.id);
  check(fetched.Title === 'Manager', 'update is visible on retrieve');

  // upsert by external id
  const added = await fetch(`${url}/__sandbox/custom-fields`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ object: 'Contact', name: 'CallsyncKey__c', label: 'Callsync Key', kind: { ExternalIdText: { length: 64 } } }),
  });
  check(added.ok, 'the sandbox takes a custom external-id field');
  const firstUpsert = await conn.sobject('Contact').upsert({ LastName: 'Kato', CallsyncKey__c: 'js-1' }, 'CallsyncKey__c');
  check(firstUpsert.success && firstUpsert.created === true, 'upsert creates');
  const secondUpsert = await conn.sobject('Contact').upsert({ LastName: 'Kato', Title: 'CTO', CallsyncKey__c: 'js-1' }, 'CallsyncKey__c');
  check(secondUpsert.success && secondUpsert.created === false, 'upsert updates');

  // collections: 2,100 accounts, 200 at a time with allOrNone
  for (let batch = 0; batch < 11; batch += 1) {
    const size = batch === 10 ? 100 : 200;
    const records = Array.from({ length: size }, (_, index) => ({ Name: `JS ${batch}-${index}` }));
    const results = await conn.sobject('Account').create(records, { allOrNone: true });
    check(results.length === size && results.every((result) => result.success), `collection batch ${batch} created`);
  }
  const rolledBack = await conn.sobject('Contact').create([{ LastName: 'Ok' }, { FirstName: 'Bad' }], { allOrNone: true });
  check(rolledBack.every((result) => !result.success), 'allOrNone rolls back the whole collection');

  // query with paging
  const first = await conn.query("SELECT Id, Name FROM Account WHERE Name LIKE 'JS %'");
  check(first.totalSize === 2100 && first.done === false && first.records.length === 2000, 'query answers the first batch of 2,000');
  const rest = await conn.queryMore(first.nextRecordsUrl);
  check(rest.done === true && rest.records.length === 100, 'queryMore answers the last 100');
  const all = await conn.query("SELECT Id FROM Account WHERE Name LIKE 'JS %'").run({ autoFetch: true, maxFetch: 10000 });
  check(all.records.length === 2100, 'autoFetch gathers all 2,100');
  const since = new Date(Date.now() - 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const recent = await conn
    .query(`SELECT Id, SystemModstamp FROM Account WHERE Name LIKE 'JS %' AND SystemModstamp > ${since}`)
    .scanAll(true)
    .run({ autoFetch: true, maxFetch: 10000 });
  check(recent.records.length === 2100, 'a SystemModstamp filter pages through queryAll to all 2,100');

  // search
  const found = await conn.search('FIND {090-9876-5432} IN PHONE FIELDS RETURNING Contact(Id, Name)');
  check(found.searchRecords.some((record) => record.Id === created.id), 'SOSL finds the contact by phone');

  // limits and the usage header
  const limits = await conn.limits();
  check(limits.DailyApiRequests.Max > limits.DailyApiRequests.Remaining, 'limits count the calls made');
  check(conn.limitInfo && conn.limitInfo.apiUsage && conn.limitInfo.apiUsage.used > 0, 'jsforce read Sforce-Limit-Info');

  // error case
  try {
    await conn.sobject('Contact').create({ FirstName: 'NoLastName' });
    check(false, 'a contact without LastName is refused');
  } catch (error) {
    check(error.errorCode === 'REQUIRED_FIELD_MISSING', 'a missing LastName is REQUIRED_FIELD_MISSING');
  }
  try {
    await conn.query('SELECT Bacon__c FROM Account');
    check(false, 'an unknown column is refused');
  } catch (error) {
    check(error.errorCode === 'INVALID_FIELD', 'an unknown column is INVALID_FIELD');
  }

  await conn.sobject('Contact').destroy(created.id);

  // queryAll: the destroyed contact is there with scanAll, not without
  const live = await conn.query(`SELECT Id FROM Contact WHERE Id = '${created.id}'`);
  check(live.totalSize === 0, 'query leaves the deleted contact out');
  const withDeleted = await conn.query(`SELECT Id, IsDeleted FROM Contact WHERE Id = '${created.id}'`, { scanAll: true });
  check(withDeleted.totalSize === 1 && withDeleted.records[0].IsDeleted === true, 'scanAll reads queryAll and finds the deleted contact');

  // updated/ and deleted/
  const start = new Date(Date.now() - 3600 * 1000);
  const end = new Date(Date.now() + 300 * 1000);
  const updated = await conn.sobject('Contact').updated(start, end);
  check(Array.isArray(updated.ids) && updated.ids.includes(secondUpsert.id) && typeof updated.latestDateCovered === 'string', 'updated/ lists the changed contact');
  const deleted = await conn.sobject('Contact').deleted(start, end);
  check(deleted.deletedRecords.some((record) => record.id === created.id) && typeof deleted.earliestDateAvailable === 'string', 'deleted/ lists the deleted contact');

  // upsert of several records by external id: collections, allOrNone false, one failing
  const upserted = await conn.sobject('Contact').upsert([
    { CallsyncKey__c: 'js-1', Title: 'CEO' },
    { CallsyncKey__c: 'js-2', LastName: 'Mori' },
    { CallsyncKey__c: 'js-3', FirstName: 'NoLastName' },
  ], 'CallsyncKey__c', { allOrNone: false });
  check(upserted.map((result) => result.success).join() === 'true,true,false', 'collection upsert: two succeed, one fails');
  check(upserted[0].created === false && upserted[1].created === true, 'collection upsert says which were created');
  check(upserted[2].errors[0].statusCode === 'REQUIRED_FIELD_MISSING', 'the failing record carries its statusCode');
  const partial = await conn.sobject('Contact').create([{ LastName: 'Partial' }, { FirstName: 'NoLastName' }], { allOrNone: false });
  check(partial[0].success && !partial[1].success, 'allOrNone false keeps the good record');

  // person accounts
  const person = await conn.sobject('Account').create({ FirstName: 'Ren', LastName: 'Abe', PersonMobilePhone: '080-2222-4444' });
  check(person.success, 'a person account is created as an Account');
  const personAccount = await conn.sobject('Account').retrieve(person.id);
  check(personAccount.IsPersonAccount === true && personAccount.Name === 'Ren Abe', 'the person account is flagged and named');
  const byPhone = await conn.search('FIND {08022224444} IN PHONE FIELDS RETURNING Account(Id)');
  check(byPhone.searchRecords.some((record) => record.Id === person.id), 'SOSL finds the person account by phone');

  // refresh token: jsforce renews an expired session by itself
  const redirectUri = 'http://localhost/callback';
  const approval = await fetch(`${url}/services/oauth2/authorize?response_type=code&client_id=${encodeURIComponent(process.env.SANDBOX_CLIENT_ID)}&redirect_uri=${encodeURIComponent(redirectUri)}`, { redirect: 'manual' });
  const code = new URL(approval.headers.get('location')).searchParams.get('code');
  const webConn = new jsforce.Connection({
    oauth2: { loginUrl: url, clientId: process.env.SANDBOX_CLIENT_ID, clientSecret: process.env.SANDBOX_CLIENT_SECRET, redirectUri },
    version,
  });
  await webConn.authorize(code);
  check(typeof webConn.refreshToken === 'string' && webConn.refreshToken.length > 0, 'the web-server flow gives jsforce a refresh token');
  let refreshed = false;
  webConn.on('refresh', () => { refreshed = true; });
  const expired = await fetch(`${url}/__sandbox/sessions/expire`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  check(expired.ok, 'the sandbox expires every session');
  const afterRefresh = await webConn.query('SELECT COUNT() FROM Contact');
  check(refreshed && afterRefresh.totalSize >= 1, 'jsforce refreshes the expired session and retries');

  // an exhausted daily allowance
  const usedUp = await fetch(`${url}/__sandbox/limits`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ daily_api_limit: 100000, used: 100000 }) });
  check(usedUp.ok, "the sandbox's allowance is used up");
  try {
    await webConn.query('SELECT Id FROM Contact LIMIT 1');
    check(false, 'a call past the daily allowance is refused');
  } catch (error) {
    check(error.errorCode === 'REQUEST_LIMIT_EXCEEDED', 'past the allowance jsforce reports REQUEST_LIMIT_EXCEEDED');
  }
  await fetch(`${url}/__sandbox/limits`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ used: 0 }) });
  const again = await webConn.query('SELECT COUNT() FROM Contact');
  check(again.totalSize >= 1, 'calls work again once the allowance is back');

  console.log('jsforce fidelity: all checks passed');
}

main().catch((error) => {
  console.error('FAIL:', error && error.stack ? error.stack : error);
  process.exit(1);
});
