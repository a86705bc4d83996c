// The peer of bench/peer.py: @tus/server with its FileStore, and tus-js-client uploading to it.
//
//   node bench/tus_peer.mjs server DIR            serve on 127.0.0.1:<free port>, print "PORT n"
//   node bench/tus_peer.mjs upload URL CHUNK F... upload the files at once (Node streams, CHUNK
//                                                 bytes per PATCH), print {"seconds": s, "bytes": n}
import fs from 'node:fs';
import http from 'node:http';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
import * as tus from 'tus-js-client';

const [mode, ...rest] = process.argv.slice(2);

if (mode === 'server') {
  const tusServer = new Server({ path: '/files', datastore: new FileStore({ directory: rest[0] }) });
  const server = http.createServer((req, res) => tusServer.handle(req, res));
  server.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} else if (mode === 'upload') {
  const [endpoint, chunk, ...files] = rest;
  const one = (path) =>
    new Promise((resolve, reject) => {
      const size = fs.statSync(path).size;
      const upload = new tus.Upload(fs.createReadStream(path), {
        endpoint,
        chunkSize: Number(chunk),
        uploadSize: size,
        retryDelays: [0, 1000, 3000],
        metadata: { filename: path.split('/').pop() },
        onError: reject,
        onSuccess: () => resolve(size),
      });
      upload.start();
    });
  const started = process.hrtime.bigint();
  const sizes = await Promise.all(files.map(one));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ seconds, bytes: sizes.reduce((a, b) => a + b, 0) }));
} else {
  console.error('usage: tus_peer.mjs server DIR | upload URL CHUNK FILE...');
  process.exit(2);
}
