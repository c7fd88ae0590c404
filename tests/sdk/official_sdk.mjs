// Sendbird's official Chat SDK for JavaScript (@sendbird/chat, pinned by package-lock.json), unmodified, runs
// the whole feed-notifications flow of issue 12 against the fake Sendbird: only customApiHost and
// customWebSocketHost point it there. One line per step (`ok 3 ...`); the first failing step prints
// `not ok <step> <what and which field>`, then the last HTTP calls and WebSocket frames, and exits 1 (2 for a
// usage error). tests/sdk/test_official_sdk.py runs it against live services; README.md says how to run it by hand.
//
//   SB_API_HOST=http://127.0.0.1:7200 SB_WS_HOST=ws://127.0.0.1:7201 SB_BRIDGE_URL=http://127.0.0.1:7300 \
//     node official_sdk.mjs
//
// Notifications are sent as the product sends them: through the bridge's integration endpoint when
// SB_BRIDGE_URL is set (Braze's webhook -> bridge -> Sendbird), else straight to the Notifications API.
// Optional: SB_APP_ID (LOCAL), SB_USER (default: a new user per run), SB_API_TOKEN (local-sendbird-token),
// SB_INTEGRATION_TOKEN (local-integration-token), SB_TEMPLATE (default sdk_test, created when missing),
// SB_TIMEOUT_MS (per wait, 10000), SB_PING_WAIT_MS (default ping_interval + pong_timeout + 1.5 s from the
// LOGI), SB_TRACE=1 (every HTTP call, frame and SDK log line), BSIM_ADMIN_TOKEN (when the services require one).

// Node before 22 has no global WebSocket: this installs the `ws` client bundled inside the SDK package when
// none exists (no other dependency). fetch is Node's own.
import '@sendbird/chat/node';
import SendbirdChat, { ConnectionState, LogLevel } from '@sendbird/chat';
import { FeedChannelHandler, FeedChannelModule, NotificationMessage } from '@sendbird/chat/feedChannel';

const env = process.env;
const RUN = Math.random().toString(36).slice(2, 8);
const API = required('SB_API_HOST').replace(/\/+$/, '');
const WS = required('SB_WS_HOST').replace(/\/+$/, '');
const BRIDGE = (env.SB_BRIDGE_URL || '').replace(/\/+$/, '');
const APP_ID = env.SB_APP_ID || 'LOCAL';
const USER = env.SB_USER || `sdk-${RUN}`;
const API_TOKEN = env.SB_API_TOKEN || 'local-sendbird-token';
const INTEGRATION_TOKEN = env.SB_INTEGRATION_TOKEN || 'local-integration-token';
const TEMPLATE = env.SB_TEMPLATE || 'sdk_test';
const ADMIN_TOKEN = env.BSIM_ADMIN_TOKEN || ''; // sent on /_admin calls, as every harness client does
const TOPIC = 'sdk-test-topic';
const TIMEOUT = Number(env.SB_TIMEOUT_MS || 10000);
const TRACE = env.SB_TRACE === '1';

function required(name) {
  if (!env[name]) {
    console.error(`usage: ${name} is required (see the head of official_sdk.mjs)`);
    process.exit(2);
  }
  return env[name];
}

// ---------------------------------------------------------------- what went over the wire
// Every HTTP call of the SDK goes through the global fetch and every frame through the global WebSocket:
// wrapping both lets the script check what the SDK never shows the app (stats are fire-and-forget,
// READ/PONG are invisible) and print the last calls and frames when a step fails.
const http = []; // {method, path, status, body, json, text}
const frames = []; // {dir: 'in'|'out', code, payload, raw}
const socketEvents = []; // 'open url', 'close 1006 reason', 'error message'
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init = {}) => {
  const u = new URL(String(url));
  const entry = { method: init.method || 'GET', path: u.pathname + u.search, status: 'pending', body: init.body };
  http.push(entry);
  try {
    const res = await realFetch(url, init);
    entry.status = res.status;
    entry.json = res.clone().json().catch(() => undefined);
    if (!res.ok) entry.text = (await res.clone().text().catch(() => '')).trim();
    if (TRACE) console.log(`#   http ${entry.method} ${entry.path} -> ${res.status}`);
    return res;
  } catch (e) {
    entry.status = `ERR ${e.message}`;
    if (TRACE) console.log(`#   http ${entry.method} ${entry.path} -> ${e.message}`);
    throw e;
  }
};
const BaseWebSocket = globalThis.WebSocket;
let sockets = 0;
let lastSocket = null;
globalThis.WebSocket = class TracedWebSocket extends BaseWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    sockets += 1;
    lastSocket = this;
    socketEvents.push(`connect ${String(url).split('?')[0]} protocol=${protocols}`);
    this.addEventListener('open', () => socketEvents.push('open'));
    this.addEventListener('message', (ev) => record('in', String(ev.data)));
    this.addEventListener('error', (ev) => socketEvents.push(`error ${ev.message || (ev.error && ev.error.message) || ''}`));
    this.addEventListener('close', (ev) => socketEvents.push(`close ${ev.code} ${ev.reason || ''}`));
  }

  send(data) {
    record('out', String(data));
    super.send(data);
  }
};
function record(dir, text) {
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    let payload = null;
    try { payload = JSON.parse(raw.slice(4)); } catch { /* the SDK drops it too */ }
    frames.push({ dir, code: raw.slice(0, 4), payload, raw });
    if (TRACE) console.log(`#   ws ${dir === 'in' ? '<-' : '->'} ${raw.slice(0, 300)}`);
  }
}
const httpSince = (mark, method, prefix) => http.slice(mark).filter((h) => h.method === method && h.path.startsWith(prefix));
const framesSince = (mark, dir, code) => frames.slice(mark).filter((f) => f.dir === dir && f.code === code);

// ---------------------------------------------------------------- checks
class StepError extends Error {}
let step = '0';
function check(cond, message) {
  if (!cond) throw new StepError(message);
}
const problems = []; // collection callbacks that mean the SDK rejected something the fake answered
function ok(text) {
  check(problems.length === 0, problems.join('; '));
  console.log(`ok ${step} ${text}`);
}
function waitFor(what, predicate, timeout = TIMEOUT) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = async () => {
      let value;
      try { value = await predicate(); } catch (e) { reject(e); return; }
      if (value) { resolve(value); return; }
      if (Date.now() - started > timeout) { reject(new StepError(`timed out after ${timeout} ms waiting for ${what}`)); return; }
      setTimeout(tick, 50);
    };
    tick();
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sameJson = (a, b) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}
function describe(m) {
  const d = m.notificationData;
  return `{notificationId=${m.notificationId} messageStatus=${m.messageStatus} createdAt=${m.createdAt} ` +
    `templateKey=${d ? d.templateKey : null} vars=${d ? JSON.stringify(d.templateVariables) : '-'}}`;
}
// A NotificationMessage as issue 12 asks: notificationId, messageStatus, notificationData with a template key
// and, for a notification this run sent, its template key and exactly the variables it sent.
function expectNotification(m, where, sent) {
  check(m instanceof NotificationMessage,
    `${where}: the SDK built a ${m && m.constructor ? m.constructor.name : m}, not a NotificationMessage ` +
    '(the message object needs a non-empty string "notification_message_id")');
  check(typeof m.notificationId === 'string' && m.notificationId, `${where}: notificationId is ${JSON.stringify(m.notificationId)}`);
  check(m.messageStatus === 'SENT' || m.messageStatus === 'READ',
    `${where}: messageStatus=${JSON.stringify(m.messageStatus)} (message_status must be "SENT" or "READ")`);
  const d = m.notificationData;
  check(d, `${where}: notificationData is null: extended_message must be {"sub_type": 0, "sub_data": "<a JSON ` +
    `string with template_key and template_variables>"}, got extended_message=${JSON.stringify(m.extendedMessage)}`);
  check(d.templateKey, `${where}: notificationData.templateKey is empty (sub_data.template_key)`);
  if (sent) {
    check(d.templateKey === TEMPLATE, `${where}: notificationData.templateKey=${JSON.stringify(d.templateKey)}, sent ${TEMPLATE} ` +
      '(sub_data.template_key)');
    check(sameJson(d.templateVariables, sent.variables), `${where}: notificationData.templateVariables=` +
      `${JSON.stringify(d.templateVariables)}, sent ${JSON.stringify(sent.variables)} (sub_data.template_variables)`);
  }
}

// ---------------------------------------------------------------- the backend side (not the SDK)
// The team's backend creates the template and sends through the Notifications API (Api-Token), or Braze's
// webhook reaches the bridge, which sends. Harness contracts: docs/sendbird-fake.md and docs/bridge.md.
async function call(base, method, path, headers, body) {
  const admin = path.startsWith('/_admin') && ADMIN_TOKEN ? { 'X-Admin-Token': ADMIN_TOKEN } : {};
  const res = await realFetch(`${base}${path}`, {
    method, headers: { 'Content-Type': 'application/json', ...admin, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* reported by the caller */ }
  return { status: res.status, json, text: text.slice(0, 300) };
}
const backend = (method, path, body) => call(API, method, path, { 'Api-Token': API_TOKEN }, body);

async function ensureTemplate() {
  const got = await backend('GET', `/v1/templates/${TEMPLATE}`);
  if (got.status === 200) return;
  const made = await backend('POST', '/v1/templates', {
    key: TEMPLATE, name: 'Official SDK test', ui_template: { title: '{title}', body: 'run {run}' },
    variable_schema: [{ key: 'title', type: 'string', name: 'title' }, { key: 'run', type: 'string', name: 'run' }],
  });
  check(made.status === 200, `POST /v1/templates ${TEMPLATE}: HTTP ${made.status} ${made.text}`);
}

const sent = new Map(); // title -> {title, variables, notificationId (the send's notification_id), via}
let sends = 0;
async function send(title) {
  const variables = { title, run: RUN };
  let notificationId;
  if (BRIDGE) {
    const messageId = `sdk-${RUN}-${++sends}`;
    const res = await call(BRIDGE, 'POST', '/braze/notifications/realtime', { 'Api-Token': INTEGRATION_TOKEN }, {
      template_key: TEMPLATE, receiver: USER, variables, event_name: 'sdk_test_status', message_id: messageId,
    });
    check(res.status === 200, `POST ${BRIDGE}/braze/notifications/realtime: HTTP ${res.status} ${res.text}`);
    // The bridge answers once the webhook is in its outbox and sends from there: wait for Sendbird's answer.
    const row = await waitFor(`the bridge to send webhook ${messageId} (GET /_admin/webhooks/${messageId} state "sent")`, async () => {
      const w = await call(BRIDGE, 'GET', `/_admin/webhooks/${messageId}`, {});
      check(!(w.json && w.json.state === 'dead'), `the bridge gave up on ${messageId}: ${w.text}`);
      return w.json && w.json.state === 'sent' && w.json;
    });
    notificationId = row.notification_id;
  } else {
    const res = await backend('POST', '/v1/notifications', {
      template: { key: TEMPLATE, variables: { [USER]: variables } }, mode: 'realtime', targets: [USER],
    });
    check(res.status === 200, `POST /v1/notifications: HTTP ${res.status} ${res.text}`);
    notificationId = res.json.notification_id;
  }
  const record = { title, variables, notificationId, via: BRIDGE ? 'bridge' : '/v1/notifications' };
  sent.set(title, record);
  return record;
}
const titled = (title) => (m) => m && m.notificationData && m.notificationData.templateVariables &&
  m.notificationData.templateVariables.title === title;
function findSent(list, title, where) {
  const m = list.find(titled(title));
  check(m, `${where} lacks the notification "${title}" this run sent (got ${list.length}: ${list.slice(0, 3).map(describe).join(' ')})`);
  expectNotification(m, `${where} "${title}"`, sent.get(title));
  return m;
}

// ---------------------------------------------------------------- the flow
const sb = SendbirdChat.init({
  appId: APP_ID,
  customApiHost: API,
  customWebSocketHost: WS,
  localCacheEnabled: false,
  logLevel: TRACE ? LogLevel.DEBUG : LogLevel.NONE,
  modules: [new FeedChannelModule()],
});
const received = []; // [channel, message] from FeedChannelHandler.onMessageReceived
const channelChanges = []; // {url, unread} from FeedChannelHandler.onChannelChanged
const added = []; // {source, m} from NotificationCollection.onMessagesAdded
const unhandled = [];
process.on('unhandledRejection', (e) => { unhandled.push(e); if (TRACE) console.log('#   unhandled rejection', e); });

async function main() {
  console.log(`# user ${USER}, template ${TEMPLATE}, sending through ${BRIDGE ? `the bridge ${BRIDGE}` : `${API}/v1/notifications`}`);

  // 1. authenticateFeed, feed channel list query, getChannel ---------------------------------------
  step = '1';
  const user = await sb.authenticateFeed(USER);
  check(user && user.userId === USER, `authenticateFeed returned user ${user && user.userId} (the login answer's user_id)`);
  await ensureTemplate();
  const seeded = [`sdk ${RUN} #1`, `sdk ${RUN} #2`];
  for (const title of seeded) await send(title);
  const listQuery = sb.feedChannel.createMyFeedChannelListQuery({ limit: 20 });
  const channels = await listQuery.next();
  check(Array.isArray(channels) && channels.length >= 1, 'createMyFeedChannelListQuery().next() returned no feed channel ' +
    `(GET /v3/users/${USER}/my_group_channels?is_feed_channel=true must list the channel the notifications went to)`);
  const url = channels[0].url;
  const channel = await sb.feedChannel.getChannel(url);
  check(channel.url === url, `getChannel(${url}) returned url ${channel.url}`);
  check(channel.channelType === 'feed', `getChannel: channelType=${channel.channelType}`);
  check(channel.myMemberState === 'joined', `getChannel: myMemberState=${channel.myMemberState} (member_state must be "joined")`);
  ok(`authenticateFeed ${user.userId}; sent ${seeded.length} through ${sent.get(seeded[0]).via}; ` +
    `feed channel list [${channels.map((c) => c.url).join(', ')}]; getChannel ${channel.url} ` +
    `unread=${channel.unreadMessageCount} lastMessage=${channel.lastMessage ? channel.lastMessage.notificationId : null} ` +
    `categories=${JSON.stringify(channel.notificationCategories.map((c) => c.name))}`);

  // 2. listing: by timestamp, previous-message query, NotificationCollection and its changelogs ------
  step = '2a';
  const byTs = await channel.getMessagesByTimestamp(Date.now() + 1000, {
    prevResultSize: 20, nextResultSize: 0, isInclusive: true, reverse: true,
  });
  byTs.forEach((m, i) => expectNotification(m, `getMessagesByTimestamp[${i}]`));
  seeded.forEach((t) => findSent(byTs, t, 'getMessagesByTimestamp'));
  check(byTs.find(titled(seeded[1])) === byTs[0], `getMessagesByTimestamp(reverse) does not start with the newest: ${describe(byTs[0])}`);
  ok(`getMessagesByTimestamp -> ${byTs.length} notifications, newest first: ${byTs.slice(0, 2).map(describe).join(' ')}`);

  step = '2b';
  const prevQuery = channel.createPreviousMessageListQuery({ limit: 20, reverse: true });
  const prev = await prevQuery.load();
  prev.forEach((m, i) => expectNotification(m, `PreviousMessageListQuery[${i}]`));
  seeded.forEach((t) => findSent(prev, t, 'PreviousMessageListQuery.load()'));
  ok(`PreviousMessageListQuery.load() -> ${prev.length} notifications, hasNext=${prevQuery.hasNext}`);

  step = '2c';
  const mark2c = http.length;
  const collection = channel.createNotificationCollection({ prevResultLimit: 20, nextResultLimit: 20 });
  collection.setMessageCollectionHandler({
    onMessagesAdded: (ctx, ch, msgs) => added.push(...msgs.map((m) => ({ source: ctx.source, m }))),
    onMessagesUpdated: () => {},
    onChannelUpdated: () => {},
    onChannelDeleted: (ctx, u) => problems.push(`the SDK dropped channel ${u} (NotificationCollection.onChannelDeleted, ` +
      `source ${ctx.source}): a channel refresh answered member_state other than "joined", or code 400108/400201`),
    onHugeGapDetected: () => problems.push('NotificationCollection.onHugeGapDetected: messages_gap answered is_huge_gap=true'),
  });
  const initial = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new StepError('NotificationCollection.initialize(): no onApiResult')), TIMEOUT);
    collection.initialize('cache_and_replace_by_api')
      .onCacheResult(() => {})
      .onApiResult((err, msgs) => { clearTimeout(timer); if (err) reject(err); else resolve(msgs); });
  });
  initial.forEach((m, i) => expectNotification(m, `NotificationCollection[${i}]`));
  seeded.forEach((t) => findSent(initial, t, 'NotificationCollection onApiResult'));
  const changelogPath = `/v3/group_channels/${encodeURIComponent(url)}/messages/changelogs`;
  const changelogs = await waitFor(`the collection's GET ${changelogPath}`, () =>
    httpSince(mark2c, 'GET', changelogPath).find((h) => h.status !== 'pending'));
  check(changelogs.status === 200, `GET ${changelogPath}: HTTP ${changelogs.status} ${changelogs.text || ''}`);
  const cl = await changelogs.json;
  check(cl && Array.isArray(cl.updated) && Array.isArray(cl.deleted) && typeof cl.has_more === 'boolean',
    `GET ${changelogPath} answered ${JSON.stringify(cl).slice(0, 200)}: it needs updated[], deleted[], has_more ` +
    '(the SDK\'s sync stops silently otherwise)');
  ok(`NotificationCollection -> ${collection.succeededMessages.length} notifications; changelogs HTTP 200 ` +
    `updated=${cl.updated.length} deleted=${cl.deleted.length} has_more=${cl.has_more}`);

  // 3. total unread -------------------------------------------------------------------------------
  step = '3';
  const unread = await sb.feedChannel.getTotalUnreadNotificationCount();
  check(typeof unread === 'number', `getTotalUnreadNotificationCount() -> ${JSON.stringify(unread)} (unread_feed_count must be a number)`);
  const listedUnread = byTs.filter((m) => m.messageStatus === 'SENT').length;
  check(byTs.length === 20 ? unread >= listedUnread : unread === listedUnread,
    `getTotalUnreadNotificationCount() -> ${unread}, but the feed lists ${listedUnread} notification(s) SENT (unread)`);
  check(channel.unreadMessageCount === listedUnread, `getChannel's unreadMessageCount=${channel.unreadMessageCount}, but the ` +
    `feed lists ${listedUnread} SENT (unread_message_count)`);
  ok(`unread count ${unread} (channel.unreadMessageCount=${channel.unreadMessageCount})`);

  // 4. stats, read back as the notification's metrics ---------------------------------------------
  step = '4';
  const mark4 = http.length;
  const target = byTs.find(titled(seeded[1]));
  const targetSent = sent.get(seeded[1]);
  const viewed = await channel.logImpression([target]);
  await channel.markAsClicked([target]);
  const custom = await channel.logCustom(TOPIC, [target]);
  check(viewed === true && custom === true, `logImpression -> ${viewed}, logCustom -> ${custom} (the SDK found no notificationData)`);
  const statPath = '/v3/sdk/notification_statistics';
  const actions = new Set();
  await waitFor(`POST ${statPath} with viewed, clicked and custom (the SDK sends stats only when the login answer's ` +
    'application_attributes has "allow_sdk_noti_stats_log_publish" and log_publish_config.realtime flushes at one stat)', () => {
    for (const h of httpSince(mark4, 'POST', statPath)) {
      if (h.status === 'pending') return false;
      check(h.status >= 200 && h.status < 300, `POST ${statPath}: HTTP ${h.status} ${h.text || ''} (the SDK hides this from the app)`);
      for (const e of JSON.parse(h.body).log_entries) actions.add(e.data.action);
    }
    return actions.has('viewed') && actions.has('clicked') && actions.has('custom');
  });
  const logPath = `/v1/notifications/${targetSent.notificationId}`;
  const metrics = await waitFor(`GET ${logPath} metrics impressions >= 1 and clicks >= 1 (the stats of message ` +
    `${target.notificationId} counted for its notification)`, async () => {
    const got = await backend('GET', logPath);
    check(got.status === 200, `GET ${logPath}: HTTP ${got.status} ${got.text}`);
    const mt = (got.json && got.json.metrics) || {};
    return mt.impressions >= 1 && mt.clicks >= 1 && mt;
  });
  const customs = await waitFor(`a stats.custom record for notification ${targetSent.notificationId} with topic ` +
    `${TOPIC} in GET /_admin/journal?kind=stats.custom`, async () => {
    const got = await call(API, 'GET', '/_admin/journal?kind=stats.custom&limit=10000', {});
    check(got.status === 200, `GET /_admin/journal: HTTP ${got.status} ${got.text}`);
    return got.json.records.filter((r) => r.notification_id === targetSent.notificationId && r.topic === TOPIC);
  }).then((records) => records.length);
  ok(`logImpression, markAsClicked, logCustom -> ${httpSince(mark4, 'POST', statPath).length} POST ${statPath} ` +
    `(${[...actions].join(', ')}); ${logPath} metrics ${JSON.stringify(metrics)}; ${customs} stats.custom record(s)`);

  // 5. markAsRead(messages), then markAsRead(): unread count and status follow, on the device and the server ---
  step = '5';
  const markPath = `/v3/group_channels/${encodeURIComponent(url)}/messages/mark_as_read`;
  const one = byTs.find(titled(seeded[0]));
  check(one.messageStatus === 'SENT', `"${seeded[0]}" is ${one.messageStatus} before any markAsRead`);
  const mark5 = http.length;
  await channel.markAsRead([one]);
  const put1 = httpSince(mark5, 'PUT', markPath)[0];
  check(put1, `markAsRead([m]) sent no PUT ${markPath}`);
  check(one.messageStatus === 'READ', `after markAsRead([m]) the message's messageStatus=${one.messageStatus}`);
  const unreadOne = await sb.feedChannel.getTotalUnreadNotificationCount();
  check(unreadOne === unread - 1, `after markAsRead([m]) getTotalUnreadNotificationCount()=${unreadOne}, expected ${unread - 1}`);
  const listedOne = await channel.getMessagesByTimestamp(Date.now() + 1000, { prevResultSize: 20, nextResultSize: 0, reverse: true });
  check(findSent(listedOne, seeded[0], 'the feed after markAsRead([m])').messageStatus === 'READ',
    `after markAsRead([m]) the server still lists "${seeded[0]}" as SENT`);
  check(findSent(listedOne, seeded[1], 'the feed after markAsRead([m])').messageStatus === 'SENT',
    `markAsRead([m]) also marked "${seeded[1]}" READ on the server`);
  await channel.markAsRead();
  const puts = httpSince(mark5, 'PUT', markPath);
  check(puts.length === 2, `markAsRead() sent ${puts.length - 1} PUT ${markPath}`);
  check(channel.unreadMessageCount === 0, `after markAsRead() channel.unreadMessageCount=${channel.unreadMessageCount} (unread_message_count)`);
  const unreadAll = await sb.feedChannel.getTotalUnreadNotificationCount();
  check(unreadAll === 0, `after markAsRead() getTotalUnreadNotificationCount()=${unreadAll}`);
  const listedAll = await channel.getMessagesByTimestamp(Date.now() + 1000, { prevResultSize: 20, nextResultSize: 0, reverse: true });
  const stillSent = listedAll.filter((m) => m.messageStatus !== 'READ');
  check(stillSent.length === 0, `after markAsRead() the server lists ${stillSent.length} SENT: ${stillSent.slice(0, 2).map(describe).join(' ')}`);
  await waitFor('every notification of the collection READ', () => collection.succeededMessages.every((m) => m.messageStatus === 'READ'), 3000)
    .catch(() => { throw new StepError('after markAsRead() the collection still shows SENT: the answer\'s "ts" (ms) must be at or after their created_at'); });
  ok(`markAsRead([m]) ${put1.body} -> READ, unread ${unreadOne}; markAsRead() ${puts[1].body} -> unread ${unreadAll}, ` +
    `all ${listedAll.length} READ on the server and in the collection`);

  // 6. connect: live notification through the bridge, a read on another device, ping/pong -------------
  step = '6a';
  sb.feedChannel.addFeedChannelHandler('sdk-test', new FeedChannelHandler({
    onMessageReceived: (ch, m) => received.push([ch, m]),
    onChannelChanged: (ch) => channelChanges.push({ url: ch.url, unread: ch.unreadMessageCount }),
  }));
  await sb.connect(USER);
  check(sb.connectionState === ConnectionState.OPEN, `connectionState=${sb.connectionState} after sb.connect`);
  const logi = frames.find((f) => f.dir === 'in' && f.code === 'LOGI');
  const live = `sdk ${RUN} live`;
  const liveSent = await send(live);
  const [rch, rmsg] = await waitFor('FeedChannelHandler.onMessageReceived', () => received.find(([, m]) => titled(live)(m)))
    .catch((e) => { throw new StepError(`${e.message}: ${whyNoAdmm(live)}`); });
  expectNotification(rmsg, 'onMessageReceived', liveSent);
  check(rch.url === url, `onMessageReceived on channel ${rch.url}, expected ${url}`);
  await waitFor('the collection to add the live notification', () => added.find(({ m }) => titled(live)(m)), 3000)
    .catch(() => { throw new StepError('the live notification reached onMessageReceived but not the NotificationCollection'); });
  await channel.refresh();
  check(channel.unreadMessageCount === 1, `after the live notification channel.refresh() says unread=${channel.unreadMessageCount}, expected 1`);
  ok(`sb.connect (LOGI ping_interval=${logi.payload.ping_interval}); sent through ${liveSent.via} -> onMessageReceived ` +
    `${describe(rmsg)}; channel.refresh() unread=1`);

  step = '6b';
  const readMark = frames.length;
  const changesBefore = channelChanges.length;
  const status = await otherDeviceMarkAsRead(url);
  const read = await waitFor(`a READ frame for ${url} after the other device's mark_as_read`, () =>
    framesSince(readMark, 'in', 'READ').find((f) => f.payload && f.payload.channel_url === url))
    .catch((e) => {
      const got = frames.slice(readMark).filter((f) => f.dir === 'in').map((f) => f.raw.slice(0, 120));
      throw new StepError(`${e.message}; frames received meanwhile: ${got.join(' | ') || 'none'}`);
    });
  check(read.payload.channel_type === 'feed', `READ frame channel_type=${JSON.stringify(read.payload.channel_type)} (must be "feed")`);
  check(!read.payload.req_id, 'READ frame carries a req_id: the SDK takes it for an answer and drops it');
  check(read.payload.user && read.payload.user.user_id === USER, `READ frame user=${JSON.stringify(read.payload.user)}, expected {user_id: ${USER}}`);
  await waitFor('FeedChannelHandler.onChannelChanged with unread 0 after the READ', () =>
    channelChanges.slice(changesBefore).find((c) => c.url === url && c.unread === 0));
  await waitFor('the live notification READ in the collection', () =>
    collection.succeededMessages.find(titled(live))?.messageStatus === 'READ', 3000)
    .catch(() => { throw new StepError(`the READ frame's ts ${read.payload.ts} does not cover the live notification's created_at ` +
      `${rmsg.createdAt}: it stays SENT in the collection`); });
  ok(`another device's mark_as_read (HTTP ${status}) -> READ ${JSON.stringify(read.payload)} -> onChannelChanged unread=0, ` +
    'the collection shows it READ');

  step = '6c';
  const pingInterval = 1000 * (logi.payload.ping_interval || 15);
  const pongTimeout = 1000 * (logi.payload.pong_timeout || 5);
  const wait = Number(env.SB_PING_WAIT_MS || pingInterval + pongTimeout + 1500);
  const socketsBefore = sockets;
  const pingMark = frames.length;
  await sleep(wait);
  const pings = framesSince(pingMark, 'out', 'PING').length;
  check(pings >= 1, `the SDK sent no PING in ${wait} ms`);
  const pongCount = () => framesSince(pingMark, 'in', 'PONG').length;
  const pongs = await waitFor(`a PONG for each of the ${pings} PING(s)`, () => pongCount() >= pings && pongCount(), pongTimeout)
    .catch(() => { throw new StepError(`${pings} PING(s) in ${wait} ms but ${pongCount()} PONG(s) within ${pongTimeout} ms more`); });
  check(sockets === socketsBefore && sb.connectionState === ConnectionState.OPEN,
    `the connection did not survive its ping/pong: state=${sb.connectionState}, ${sockets - socketsBefore} new socket(s), ` +
    `socket events: ${socketEvents.slice(-3).join(' | ')}`);
  ok(`waited ${wait} ms: ${pings} PING / ${pongs} PONG, the same socket still OPEN`);

  // 7. disconnect, a notification meanwhile, refreshNotificationCollections() -> messages_gap ----------
  step = '7';
  await sb.disconnectWebSocket();
  check(sb.connectionState === ConnectionState.CLOSED, `connectionState=${sb.connectionState} after disconnectWebSocket()`);
  const offline = `sdk ${RUN} while offline`;
  const offlineSent = await send(offline);
  const mark7 = http.length;
  sb.feedChannel.refreshNotificationCollections();
  const gapAdded = await waitFor('the collection to add the notification sent while disconnected', () =>
    added.find(({ m }) => titled(offline)(m)))
    .catch((e) => {
      const calls = http.slice(mark7).map((h) => `${h.method} ${h.path.split('?')[0]} -> ${h.status}`);
      throw new StepError(`${e.message}; the SDK called: ${calls.join(', ') || 'nothing'}`);
    });
  expectNotification(gapAdded.m, 'the collection after refreshNotificationCollections()', offlineSent);
  const gap = http.slice(mark7).find((h) => h.method === 'GET' && /\/v3\/group_channels\/[^/]+\/messages_gap/.test(h.path));
  check(gap && gap.status === 200, `refreshNotificationCollections() added it without an answered messages_gap (${gap ? gap.status : 'no call'})`);
  ok(`refreshNotificationCollections() -> GET messages_gap HTTP 200 -> onMessagesAdded (${gapAdded.source}) ${describe(gapAdded.m)}`);

  // 8. reconnect with the same session, then by itself after the socket drops (what a phone does all day) ---
  step = '8';
  const frames8 = frames.length;
  check(sb.reconnect() === true, 'sb.reconnect() returned false (no session)');
  await waitFor('connectionState OPEN after sb.reconnect()', () => sb.connectionState === ConnectionState.OPEN);
  const socketsAtReconnect = sockets;
  if (typeof lastSocket.terminate === 'function') lastSocket.terminate(); // ws (Node < 22): a network drop, no close frame
  else lastSocket.close(4000, 'sdk test drop'); // Node 22's own WebSocket has no terminate()
  await waitFor('the SDK to open a new WebSocket by itself after the drop', () => sockets > socketsAtReconnect);
  await waitFor('connectionState OPEN after the automatic reconnect', () => sb.connectionState === ConnectionState.OPEN);
  const again = `sdk ${RUN} after reconnect`;
  const againSent = await send(again);
  const [, againMsg] = await waitFor('onMessageReceived after the automatic reconnect', () => received.find(([, m]) => titled(again)(m)))
    .catch((e) => { throw new StepError(`${e.message}: ${whyNoAdmm(again)}`); });
  expectNotification(againMsg, 'onMessageReceived after reconnecting', againSent);
  ok(`sb.reconnect() and a dropped socket: ${framesSince(frames8, 'in', 'LOGI').length} LOGI, live delivery again`);

  await sb.disconnect();
  if (unhandled.length) console.log(`# ${unhandled.length} unhandled rejection(s) inside the SDK: ${unhandled.map(String).join('; ')}`);
  console.log('# all steps passed');
}

// Why an ADMM did not reach onMessageReceived: the SDK drops pushed messages silently.
function whyNoAdmm(title) {
  const admm = frames.find((f) => f.dir === 'in' && f.code === 'ADMM' && f.raw.includes(JSON.stringify(title).slice(1, -1)));
  if (!admm) {
    const codes = frames.filter((f) => f.dir === 'in').map((f) => f.code);
    return `no ADMM frame carrying "${title}" arrived (frames in: ${codes.slice(-10).join(' ') || 'none'}; sockets: ${socketEvents.slice(-3).join(' | ')})`;
  }
  const p = admm.payload || {};
  const why = [];
  if (p.req_id) why.push('it carries a req_id (pushed events must not)');
  if (p.channel_type !== 'feed') why.push(`channel_type=${JSON.stringify(p.channel_type)} (must be "feed")`);
  if (!p.notification_message_id) why.push('no notification_message_id');
  if (!p.extended_message || typeof p.extended_message.sub_data !== 'string') why.push('extended_message.sub_data is not a JSON string');
  return `an ADMM arrived but the SDK dropped it: ${why.join('; ') || 'no obvious reason'}: ${admm.raw.slice(0, 300)}`;
}

// A second device of the same user logs in over HTTP with its own session and marks the whole channel read;
// the fake must announce it as READ on this device's connection.
async function otherDeviceMarkAsRead(url) {
  const headers = { 'Content-Type': 'application/json; charset=utf-8', 'App-Id': APP_ID, SendBird: `JS,sdk-test,4,${APP_ID}` };
  const login = await call(API, 'POST', `/v3/sdk/users/${encodeURIComponent(USER)}/authentication`, headers,
    { expiring_session: false, include_logi: true, app_id: APP_ID });
  check(login.status === 200 && login.json && login.json.key, `the other device's login: HTTP ${login.status} ${login.text}`);
  const res = await call(API, 'PUT', `/v3/group_channels/${encodeURIComponent(url)}/messages/mark_as_read`,
    { ...headers, 'Session-key': login.json.key }, { user_id: USER });
  check(res.status === 200, `the other device's PUT mark_as_read: HTTP ${res.status} ${res.text}`);
  return res.status;
}

function explain(e) {
  if (e instanceof StepError) return e.message;
  const parts = [`${e.name || 'Error'}${e.code ? ` ${e.code}` : ''}: ${e.message}`];
  const last = http[http.length - 1];
  if (last) parts.push(`(last HTTP call: ${last.method} ${last.path} -> ${last.status}${last.text ? ` ${last.text.slice(0, 200)}` : ''})`);
  const meaning = {
    800120: 'network error: the server was unreachable or answered a body that is not JSON',
    800101: 'connection required: no session key, the login answer lacks "key"',
    800190: 'login timeout: no LOGI frame within 10 s of the WebSocket opening',
    800220: 'request failed: a non-2xx answer with an empty or null JSON body',
    800502: 'WebSocket closed or refused: see the socket events below',
  }[e.code];
  if (meaning) parts.push(`(${e.code} = ${meaning})`);
  return parts.join(' ');
}

function context() {
  const lines = [`# socket events: ${socketEvents.slice(-6).join(' | ') || 'none'}`];
  for (const h of http.slice(-8)) lines.push(`# http ${h.method} ${h.path.slice(0, 160)} -> ${h.status}${h.text ? ` ${h.text.slice(0, 160)}` : ''}`);
  for (const f of frames.slice(-8)) lines.push(`# ws ${f.dir === 'in' ? '<-' : '->'} ${f.raw.slice(0, 200)}`);
  return lines.join('\n');
}

// If the SDK leaves a promise pending with nothing scheduled, Node would exit 0 silently: make that a failure.
process.on('beforeExit', () => {
  console.log(`not ok ${step} the SDK left its promise pending with nothing scheduled (the event loop emptied)`);
  console.log(context());
  process.exit(1);
});

main().then(() => process.exit(0), (e) => {
  console.log(`not ok ${step} ${explain(e)}`);
  console.log(context());
  if (TRACE && e.stack) console.log(e.stack);
  process.exit(1);
});
