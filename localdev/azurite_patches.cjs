// Preloaded into Azurite (node --require) by localdev/azurite.py: costs that grow with
// the data, made flat. None of them changes what Azurite stores or answers, only how fast.
//
// 1. Queue (and blob) GC. In memory, Azurite stores every queue message as an extent of its own,
//    and its GC (every 60 s) deletes each unreferenced extent with a LokiJS findAndRemove on an
//    id-indexed collection, O(extents) per call: O(n^2) for the n messages of the last minute. At
//    60 webhook deliveries a second that froze Azurite's one event loop, and so every table, queue
//    and blob call of the host, for 4 to 25 s a minute (issue 22: 3,000 extents took 18.7 s one by
//    one; as one `$in` removal 0.05 s). Here they are removed in one pass.
// 2. Table queries. Azurite evaluates a query's filter on every entity of the table, so a query
//    for one partition slows down as other partitions grow (fan-out's shard and delivery rows).
//    A filter that is `PartitionKey eq '<v>'` and-ed with the rest (no `or`) now starts from the
//    collection's PartitionKey index; the filter and Azurite's sort and paging still run as before.
// 3. Idle connections. The table server never applies its keep-alive setting, so Node closes an
//    idle connection after 5 s; a client sending on it at that instant gets ECONNRESET, and the
//    SDKs do not retry a reset MERGE or POST (not idempotent). Azure's front ends keep idle
//    connections for minutes; so do these servers now (the blob and queue servers are told so by
//    their `--*KeepAliveTimeout` flags, localdev/azurite.py).
// 4. Point reads. Azurite finds an entity with LokiJS `findOne({RowKey, PartitionKey})`, which
//    narrows by the RowKey index only and scans the rest: in a table where every partition has the
//    same row key (a partner's row is `partner`), each read, insert and upsert walked the whole
//    table, O(n^2) to fill it (2,000 partners' invoice bench: setup from seconds to over 13
//    minutes). Now the narrower of the two index ranges is walked.
// 5. Large partitions. A query of one partition still evaluated its filter on every row of the
//    partition and sorted them all before taking a page: 500 tenants' report rows in one partition
//    made each first page cost seconds where Azure reads a page. For a partition of more than
//    BIG_PARTITION rows whose filter is and-ed plainly, the rows are now walked in row-key order
//    (LokiJS's RowKey index, from the filter's `RowKey ge/gt` bound to its `lt/le` bound) until
//    the page is full. The index orders numeric-looking strings as numbers, so a table holding any
//    row key that looks like a number keeps Azurite's own way.
// 6. Removing nothing. Before every dequeue and every message delete, Azurite's queue store removes
//    the queue's expired messages with `coll.remove(docs)`, most often an empty list; LokiJS's
//    batch removal still maps every message of every queue to its position and marks the
//    collection's four binary indices dirty, so the next find re-sorts all of them: O(n log n) per
//    queue call in the messages held. With 6,000 alert events queued it kept Azurite's one core
//    busy (a CPU profile: 86% under `clearExpiredMessages`) and drained 10 events a second
//    (issue 16's bench). An empty batch now returns at once, and the sweep runs at most once a
//    second per queue (a message past its time to live may be handed out for up to a second more;
//    the service itself gives no tighter promise). LokiJS's batch update (each dequeue hides the
//    messages it returns) likewise re-sorted every index afterwards; a batch of a few documents now
//    updates them one by one, each moving its own index entries.
"use strict";

const http = require("http");

const KEEP_ALIVE_MS = 120000;
const createServer = http.createServer;
http.createServer = function () {
  const server = createServer.apply(this, arguments);
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1000; // Node wants it above the keep-alive timeout
  return server;
};

const path = require("path");

const root = path.dirname(require.resolve("azurite/package.json", { paths: [process.cwd(), __dirname] }));
const load = (relative) => require(path.join(root, "dist/src", relative)).default;
const MemoryExtentStore = load("common/persistence/MemoryExtentStore");
const LokiExtentMetadataStore = load("common/persistence/LokiExtentMetadataStore");
const LokiTableMetadataStore = load("table/persistence/LokiTableMetadataStore");

const deleteExtents = MemoryExtentStore.prototype.deleteExtents;

MemoryExtentStore.prototype.deleteExtents = async function (extents) {
  const metadata = this.metadataStore;
  if (!(metadata instanceof LokiExtentMetadataStore) || !metadata.db) {
    return deleteExtents.call(this, extents); // another metadata store: Azurite's own way
  }
  const ids = [...extents];
  for (const id of ids) {
    if (this.chunks.get(this.categoryName, id)) {
      this.chunks.delete(this.categoryName, id);
    }
  }
  const collection = metadata.db.getCollection(metadata.EXTENTS_COLLECTION);
  for (let start = 0; start < ids.length; start += 10000) {
    collection.findAndRemove({ id: { $in: ids.slice(start, start + 10000) } });
  }
  return ids.length;
};

const Loki = require(require.resolve("lokijs", { paths: [root] }));
const removeBatch = Loki.Collection.prototype.removeBatch;

Loki.Collection.prototype.removeBatch = function (batch) {
  if (batch.length === 0) {
    return;
  }
  removeBatch.call(this, batch);
};

const update = Loki.Collection.prototype.update;
const SMALL_BATCH = 64;

Loki.Collection.prototype.update = function (doc) {
  if (Array.isArray(doc) && doc.length <= SMALL_BATCH) {
    for (const one of doc) {
      update.call(this, one);
    }
    return;
  }
  return update.call(this, doc);
};

const LokiQueueMetadataStore = load("queue/persistence/LokiQueueMetadataStore");
const clearExpiredMessages = LokiQueueMetadataStore.prototype.clearExpiredMessages;
const SWEEP_EVERY_MS = 1000;

LokiQueueMetadataStore.prototype.clearExpiredMessages = async function (account, queue, context) {
  const swept = (this.lastSweeps = this.lastSweeps || new Map());
  const key = `${account}/${queue}`;
  const now = Date.now();
  if (now - (swept.get(key) || 0) < SWEEP_EVERY_MS) {
    this.checkQueueExist(account, queue, context); // as the sweep would: a missing queue is an error
    return;
  }
  swept.set(key, now);
  return clearExpiredMessages.call(this, account, queue, context);
};

const findOne = Loki.Collection.prototype.findOne;

Loki.Collection.prototype.findOne = function (query) {
  const keys = query && typeof query === "object" ? Object.keys(query) : [];
  const indices = this.binaryIndices || {};
  if (
    keys.length !== 2 ||
    typeof query.PartitionKey !== "string" ||
    typeof query.RowKey !== "string" ||
    !indices.PartitionKey ||
    !indices.RowKey
  ) {
    return findOne.apply(this, arguments);
  }
  this.ensureIndex("PartitionKey");
  this.ensureIndex("RowKey");
  const byPartition = this.calculateRange("$eq", "PartitionKey", query.PartitionKey);
  const byRow = this.calculateRange("$eq", "RowKey", query.RowKey);
  const [walked, [start, end]] =
    byPartition[1] - byPartition[0] <= byRow[1] - byRow[0] ? ["PartitionKey", byPartition] : ["RowKey", byRow];
  const positions = indices[walked].values;
  for (let i = start; i <= end; i++) {
    const doc = this.data[positions[i]];
    // Both compared strictly: LokiJS ranges compare numeric strings as numbers ("010" == "10").
    if (doc.PartitionKey === query.PartitionKey && doc.RowKey === query.RowKey) {
      return doc;
    }
  }
  return null;
};

const LEADING_PARTITION = /^\s*\(?\s*PartitionKey\s+eq\s+'((?:[^']|'')*)'\s*\)?\s*(?:and\b|$)/;

// The partition a filter is limited to, when it is plainly limited to one; otherwise undefined.
function partitionOf(filter) {
  if (typeof filter !== "string") {
    return undefined;
  }
  const match = LEADING_PARTITION.exec(filter);
  const outsideLiterals = filter.replace(/'(?:[^']|'')*'/g, "''");
  if (!match || /\bor\b/i.test(outsideLiterals)) {
    return undefined;
  }
  return match[1].replace(/''/g, "'");
}

const queryTableEntities = LokiTableMetadataStore.prototype.queryTableEntities;
const QueryGenerator = load("table/persistence/LokiTableStoreQueryGenerator");
const BIG_PARTITION = 2000;
const BOUND = /\bRowKey\s+(ge|gt|lt|le)\s+'((?:[^']|'')*)'/g;

// The row-key bounds of a filter already known to be and-ed plainly (no `or`, no `not`).
function rowKeyBounds(filter) {
  const bounds = {};
  for (const [, op, literal] of filter.matchAll(BOUND)) {
    const value = literal.replace(/''/g, "'");
    if (op === "ge" || op === "gt") {
      if (bounds.low === undefined || value > bounds.low) {
        bounds.low = value;
      }
    } else if (bounds.high === undefined || value < bounds.high) {
      bounds.high = value;
    }
  }
  return bounds;
}

// True when the RowKey index orders the table's keys as strings compare (none looks like a number).
function stringOrdered(collection, positions) {
  if (positions.length === 0) {
    return false;
  }
  const first = collection.data[positions[0]].RowKey; // LokiJS puts number-like keys first
  return typeof first === "string" && first.trim() !== "" && Number.isNaN(Number(first));
}

// The first index position whose row key is >= `low` (string order).
function lowerBound(collection, positions, low) {
  let min = 0;
  let max = positions.length;
  while (min < max) {
    const mid = (min + max) >>> 1;
    if (collection.data[positions[mid]].RowKey < low) {
      min = mid + 1;
    } else {
      max = mid;
    }
  }
  return min;
}

function walkPartition(store, context, collection, partition, queryOptions, nextPartitionKey, nextRowKey) {
  const filter = queryOptions.filter;
  const outsideLiterals = filter.replace(/'(?:[^']|'')*'/g, "''");
  const indices = collection.binaryIndices || {};
  if (/\bnot\b/i.test(outsideLiterals) || !indices.PartitionKey || !indices.RowKey) {
    return undefined;
  }
  collection.ensureIndex("PartitionKey");
  const [first, last] = collection.calculateRange("$eq", "PartitionKey", partition);
  if (last - first + 1 <= BIG_PARTITION) {
    return undefined;
  }
  collection.ensureIndex("RowKey");
  const positions = indices.RowKey.values;
  if (!stringOrdered(collection, positions)) {
    return undefined;
  }
  const where = QueryGenerator.generateQueryForPersistenceLayer(queryOptions, context);
  const maxResults = store.getMaxResultsOption(queryOptions);
  const afterPartition = store.decodeContinuationHeader(nextPartitionKey);
  const afterRow = store.decodeContinuationHeader(nextRowKey);
  if (afterPartition !== undefined && afterPartition > partition) {
    return [[], undefined, undefined];
  }
  const { low, high } = rowKeyBounds(filter);
  let start = low === undefined ? 0 : lowerBound(collection, positions, low);
  if (afterPartition === partition && afterRow !== undefined) {
    start = Math.max(start, lowerBound(collection, positions, afterRow));
  }
  const result = [];
  for (let i = start; i < positions.length && result.length <= maxResults; i++) {
    const doc = collection.data[positions[i]];
    if (high !== undefined && doc.RowKey > high) {
      break;
    }
    if (doc.PartitionKey === partition && where(doc)) {
      result.push(doc);
    }
  }
  const response = store.adjustQueryResultforTop(result, maxResults);
  return [result, response.nextPartitionKeyResponse, response.nextRowKeyResponse];
}

LokiTableMetadataStore.prototype.queryTableEntities = async function (context, account, table, queryOptions) {
  const partition = partitionOf(queryOptions && queryOptions.filter);
  if (partition === undefined) {
    return queryTableEntities.apply(this, arguments);
  }
  const collection = this.getEntityCollection(account, table, context);
  const walked = walkPartition(this, context, collection, partition, queryOptions, arguments[4], arguments[5]);
  if (walked !== undefined) {
    return walked;
  }
  const chain = collection.chain;
  collection.chain = function () {
    return chain.apply(this, arguments).find({ PartitionKey: partition });
  };
  try {
    // Azurite's query runs synchronously up to its answer: the override is gone before anything else runs.
    return queryTableEntities.apply(this, arguments);
  } finally {
    delete collection.chain;
  }
};
