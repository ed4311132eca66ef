// edgecdn player: plays a title with hls.js or dash.js, through content steering or straight
// from the best-ranked edge, and shows what the CDN did for every segment.
//
// Query parameters:
//   title=NAME        the title (required)
//   player=hls|dash   hls.js (default) or dash.js
//   steering=1|0      1 (default): /play/<title>/master.m3u8 or manifest.mpd from steering;
//                     0: straight from the edge steering ranks first (/steer/<title>)
//   api=URL           the steering service (default: the origin this page came from)
//   zone=Z            the client's zone, passed to steering
//   src=URL           play this playlist or MPD instead (no steering at all)
//   cmcd=0            do not send CMCD
//   buffer=S          buffer at most S seconds ahead (default: the player's own; a small buffer
//                     shows a failover the way a live stream would feel it)
//
// window.edgecdn.state() returns everything the panel shows, for scripts and tests.
(function () {
  'use strict';

  const q = new URLSearchParams(location.search);
  const opts = {
    title: q.get('title') || '',
    player: q.get('player') === 'dash' ? 'dash' : 'hls',
    steering: q.get('steering') !== '0',
    api: (q.get('api') || location.origin).replace(/\/+$/, ''),
    zone: q.get('zone') || '',
    src: q.get('src') || '',
    cmcd: q.get('cmcd') !== '0',
    buffer: Math.max(0, Number(q.get('buffer')) || 0),
  };
  const MISSING = 'The players are not installed on this server. In the edgecdn source tree run\n\n' +
    '    cd web && npm ci        (or: make web)\n\n' +
    'and reload this page (or point --web-dir / EDGECDN_WEB_DIR at that web/ folder).';
  const MAX_SEGMENTS = 600;
  // dash.js error codes that end playback: manifest loading and parsing, MediaSource capability.
  const DASH_FATAL = new Set([10, 11, 23, 25, 31, 32, 34, 35]);

  const video = document.getElementById('video');
  const $ = (id) => document.getElementById(id);

  const st = {
    url: '',
    loaded: false,           // the player library is loaded and attached
    error: '',
    t0: 0,                   // performance.now() when loading began
    ttffMs: null,            // from the player's start to the first frame shown
    pageTtffMs: null,        // from opening the page (navigation) to the first frame shown
    stalls: 0,
    stallMs: 0,
    longestStallMs: 0,
    stallStart: null,
    bitrateKbps: 0,
    pathwayApi: '',          // what the player library says
    priority: [],            // the last steering manifest's PATHWAY-PRIORITY
    hostPathway: {},         // HOST:PORT -> pathway, from the playback manifest and clones
    segments: [],
    requests: 0,
    aborted: 0,              // requests the players aborted themselves
    errors: [],
    cmcd: '',
    sid: randomID(),
  };

  // ---- network capture: every request the players make goes through XHR or fetch ------------

  function kindOf(url) {
    const p = url.split('?')[0];
    if (/\/steering\/[^/]+\.json$/.test(p) || /steering/i.test(p) && p.endsWith('.json')) return 'steering';
    if (p.endsWith('.m3u8')) return 'playlist';
    if (p.endsWith('.mpd')) return 'mpd';
    if (/\.(ts|m4s|mp4|m4v|m4a|aac|cmfv|cmfa)$/.test(p)) return 'segment';
    return 'other';
  }

  function headerMap(raw) {
    const m = {};
    for (const line of (raw || '').split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i > 0) m[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return m;
  }

  function record(url, status, headers, bytes, ms, body) {
    st.requests++;
    let u;
    try { u = new URL(url, location.href); } catch (e) { return; }
    const kind = kindOf(u.pathname);
    if (body != null) learn(kind, u, body);
    const c = u.searchParams.get('CMCD');
    if (c) st.cmcd = c;
    if (headers['cmcd-request']) st.cmcd = headers['cmcd-request'];
    if (kind !== 'segment') {
      if (status === 0 || status >= 400) pushError(`${kind} ${u.pathname}: ${status || 'network error'}`);
      return;
    }
    const parts = u.pathname.split('/');
    const seg = {
      at: Date.now(),
      host: u.host,
      path: u.pathname,
      object: parts.slice(-2).join('/'),
      status: status,
      servedBy: headers['x-served-by'] || '',
      exposed: 'x-served-by' in headers || 'cache-status' in headers,
      cache: headers['cache-status'] || '',
      bytes: bytes,
      ms: Math.round(ms),
      pathway: st.hostPathway[u.host] || '',
    };
    st.segments.push(seg);
    if (st.segments.length > MAX_SEGMENTS) st.segments.shift();
    if (status === 0 || status >= 400) pushError(`segment ${u.host}${u.pathname}: ${status || 'network error'}`);
  }

  // learn reads playback and steering manifests for the pathway of each host.
  function learn(kind, u, body) {
    try {
      if (kind === 'playlist' && typeof body === 'string' && body.includes('PATHWAY-ID')) {
        const lines = body.split(/\r?\n/);
        for (let i = 0; i < lines.length - 1; i++) {
          const m = /PATHWAY-ID="([^"]+)"/.exec(lines[i]);
          if (m && lines[i].startsWith('#EXT-X-STREAM-INF')) {
            const uri = lines[i + 1].trim();
            if (uri && !uri.startsWith('#')) st.hostPathway[new URL(uri, u).host] = m[1];
          }
        }
      } else if (kind === 'mpd' && typeof body === 'string') {
        const re = /<BaseURL[^>]*serviceLocation="([^"]+)"[^>]*>([^<]+)<\/BaseURL>/g;
        let m;
        while ((m = re.exec(body)) !== null) st.hostPathway[new URL(m[2].trim(), u).host] = m[1];
      } else if (kind === 'steering') {
        const j = typeof body === 'string' ? JSON.parse(body) : body;
        if (j && Array.isArray(j['PATHWAY-PRIORITY'])) st.priority = j['PATHWAY-PRIORITY'].slice();
        for (const c of (j && j['PATHWAY-CLONES']) || []) {
          const r = c['URI-REPLACEMENT'] || {};
          if (!c.ID) continue;
          if (r.HOST && r.HOST.includes(':')) st.hostPathway[r.HOST] = c.ID;
          for (const uri of Object.values(r['PER-VARIANT-URIS'] || {})) {
            st.hostPathway[new URL(uri, u).host] = c.ID;
          }
        }
      }
    } catch (e) { /* not ours to judge: the player reports bad manifests */ }
  }

  const xhrOpen = XMLHttpRequest.prototype.open;
  const xhrSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    this._edgecdn = { url: String(url), t0: 0 };
    return xhrOpen.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function () {
    const info = this._edgecdn;
    if (info) {
      info.t0 = performance.now();
      this.addEventListener('abort', () => { info.aborted = true; });
      this.addEventListener('loadend', (e) => {
        if (info.aborted) { st.aborted++; return; } // the player changed its mind, not a failure
        let body = null;
        if (this.responseType === '' || this.responseType === 'text') body = this.responseText;
        else if (this.responseType === 'json') body = this.response;
        record(this.responseURL || info.url, this.status, headerMap(this.getAllResponseHeaders()),
          e.loaded || 0, performance.now() - info.t0, body);
      });
    }
    return xhrSend.apply(this, arguments);
  };
  const origFetch = window.fetch.bind(window);
  window.fetch = async function (input, init) {
    const url = typeof input === 'string' ? input : (input && input.url) || String(input);
    const t0 = performance.now();
    try {
      const r = await origFetch(input, init);
      const h = {};
      r.headers.forEach((v, k) => { h[k] = v; });
      const k = kindOf(new URL(r.url || url, location.href).pathname);
      let body = null;
      if (k === 'steering' || k === 'playlist' || k === 'mpd') {
        try { body = await r.clone().text(); } catch (e) { body = null; }
      }
      record(r.url || url, r.status, h, Number(h['content-length'] || 0), performance.now() - t0, body);
      return r;
    } catch (err) {
      if (err && err.name === 'AbortError') st.aborted++;
      else record(url, 0, {}, 0, performance.now() - t0, null);
      throw err;
    }
  };

  // ---- playback measures -----------------------------------------------------------------------

  function pushError(msg) {
    st.errors.push({ at: Date.now(), msg: String(msg) });
    if (st.errors.length > 100) st.errors.shift();
  }

  function firstFrame() {
    if (st.ttffMs === null) {
      st.ttffMs = Math.round(performance.now() - st.t0);
      st.pageTtffMs = Math.round(performance.now());
    }
  }
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    video.requestVideoFrameCallback(firstFrame);
  }
  video.addEventListener('playing', () => {
    if (!('requestVideoFrameCallback' in HTMLVideoElement.prototype)) firstFrame();
    endStall();
  });
  video.addEventListener('waiting', () => {
    if (st.ttffMs !== null && !video.seeking && !video.ended && st.stallStart === null) {
      st.stallStart = performance.now();
      st.stalls++;
    }
  });
  let lastTime = -1;
  video.addEventListener('timeupdate', () => {
    if (video.currentTime !== lastTime) { lastTime = video.currentTime; endStall(); }
  });
  video.addEventListener('error', () => {
    st.error = 'video element: ' + (video.error && (video.error.message || 'code ' + video.error.code) || 'error');
    pushError(st.error);
  });
  function endStall() {
    if (st.stallStart === null) return;
    const d = performance.now() - st.stallStart;
    st.stallMs += d;
    st.longestStallMs = Math.max(st.longestStallMs, d);
    st.stallStart = null;
  }

  function bufferAhead() {
    const b = video.buffered, t = video.currentTime;
    for (let i = 0; i < b.length; i++) {
      if (b.start(i) <= t + 0.1 && t < b.end(i)) return b.end(i) - t;
    }
    return 0;
  }

  function lastSegment() { return st.segments[st.segments.length - 1]; }

  function state() {
    const pq = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : {};
    const last = lastSegment();
    const stalling = st.stallStart !== null ? performance.now() - st.stallStart : 0;
    return {
      title: opts.title, player: opts.player, steering: opts.steering, api: opts.api,
      url: st.url, loaded: st.loaded, error: st.error,
      ttffMs: st.ttffMs,
      pageTtffMs: st.pageTtffMs,
      stalls: st.stalls,
      stallMs: Math.round(st.stallMs + stalling),
      longestStallMs: Math.round(Math.max(st.longestStallMs, stalling)),
      stalling: st.stallStart !== null,
      currentTime: video.currentTime,
      duration: isFinite(video.duration) ? video.duration : 0,
      paused: video.paused, ended: video.ended, readyState: video.readyState,
      frames: pq.totalVideoFrames || 0, dropped: pq.droppedVideoFrames || 0,
      bufferS: bufferAhead(),
      bitrateKbps: st.bitrateKbps,
      pathway: (last && last.pathway) || st.pathwayApi || '',
      pathwayApi: st.pathwayApi,
      priority: st.priority,
      hostPathway: st.hostPathway,
      cmcd: st.cmcd,
      requests: st.requests,
      aborted: st.aborted,
      segments: st.segments,
      errors: st.errors,
    };
  }
  window.edgecdn = { state: state, opts: opts };

  // ---- players ---------------------------------------------------------------------------------

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error(MISSING));
      document.head.appendChild(s);
    });
  }

  async function sourceURL() {
    const file = opts.player === 'dash' ? 'manifest.mpd' : 'master.m3u8';
    const t = encodeURIComponent(opts.title);
    const zone = opts.zone ? '?zone=' + encodeURIComponent(opts.zone) : '';
    if (opts.src) return opts.src;
    if (opts.steering) return `${opts.api}/play/${t}/${file}${zone}`;
    const r = await origFetch(`${opts.api}/steer/${t}${zone}`);
    if (!r.ok) throw new Error(`steering ${opts.api}/steer/${opts.title}: ${r.status} ${(await r.text()).trim()}`);
    const j = await r.json();
    const e = (j.edges || []).find((e) => e.healthy) || (j.edges || [])[0];
    if (!e) throw new Error('steering knows no edge');
    return `${e.base || e.url}/vod/${t}/${file}`;
  }

  function startHls(url) {
    const Hls = window.Hls;
    if (!Hls.isSupported()) throw new Error('hls.js: this browser has no Media Source Extensions');
    const cfg = { enableWorker: true, contentSteeringEnabled: true };
    if (opts.buffer) { cfg.maxBufferLength = opts.buffer; cfg.maxMaxBufferLength = opts.buffer; }
    if (opts.cmcd) cfg.cmcd = { sessionId: st.sid, contentId: opts.title, useHeaders: false };
    const hls = new Hls(cfg);
    window.edgecdn.hls = hls;
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => {
      const l = hls.levels[d.level];
      if (l) st.bitrateKbps = Math.round(l.bitrate / 1000);
    });
    hls.on(Hls.Events.FRAG_LOADED, (_, d) => {
      const l = hls.levels[d.frag.level];
      if (l && l.pathwayId && l.pathwayId !== '.') st.pathwayApi = l.pathwayId;
    });
    hls.on(Hls.Events.STEERING_MANIFEST_LOADED, (_, d) => {
      if (d.steeringManifest && d.steeringManifest['PATHWAY-PRIORITY']) st.priority = d.steeringManifest['PATHWAY-PRIORITY'].slice();
    });
    hls.on(Hls.Events.ERROR, (_, d) => {
      pushError(`hls.js ${d.fatal ? 'FATAL ' : ''}${d.type} ${d.details}${d.response && d.response.code !== undefined ? ' ' + d.response.code : ''}`);
      if (d.fatal) st.error = `hls.js: ${d.details}`;
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  }

  function startDash(url) {
    const dashjs = window.dashjs;
    const player = dashjs.MediaPlayer().create();
    window.edgecdn.dash = player;
    const settings = { streaming: { applyContentSteering: true } };
    if (opts.buffer) {
      const b = opts.buffer;
      settings.streaming.buffer = { bufferTimeDefault: b, bufferTimeAtTopQuality: b, bufferTimeAtTopQualityLongForm: b };
    }
    if (opts.cmcd) settings.streaming.cmcd = { enabled: true, sid: st.sid, cid: opts.title, mode: 'query' };
    player.updateSettings(settings);
    const ev = dashjs.MediaPlayer.events;
    player.on(ev.QUALITY_CHANGE_RENDERED, (e) => {
      if (e.mediaType !== 'video') return;
      try {
        const r = player.getCurrentRepresentationForType('video');
        if (r) st.bitrateKbps = Math.round(r.bandwidth / 1000);
      } catch (err) { /* older API */ }
    });
    player.on(ev.FRAGMENT_LOADING_COMPLETED, (e) => {
      const sl = e.request && e.request.serviceLocation;
      if (sl && !sl.includes('/')) st.pathwayApi = sl; // without steering, dash.js names it by its URL
    });
    player.on(ev.ERROR, (e) => {
      const code = e.error && e.error.code;
      const msg = (e.error && (e.error.message || code)) || 'error';
      pushError(`dash.js ${code || ''} ${msg}`);
      // A segment that fails its retries puts its BaseURL (pathway) on dash.js's blacklist and
      // playing goes on from the next one; only a manifest or the browser's capabilities end it.
      if (DASH_FATAL.has(code)) st.error = 'dash.js: ' + msg;
    });
    player.initialize(video, url, true);
    try {
      const r = player.getCurrentRepresentationForType && player.getCurrentRepresentationForType('video');
      if (r) st.bitrateKbps = Math.round(r.bandwidth / 1000);
    } catch (err) { /* not yet */ }
  }

  async function main() {
    $('f-title').value = opts.title;
    $('f-player').value = opts.player;
    $('f-steering').value = opts.steering ? '1' : '0';
    for (const k of ['api', 'zone', 'src', 'buffer']) {
      if (q.get(k)) { $('f-' + k).value = q.get(k); $('f-' + k).disabled = false; }
    }
    setInterval(render, 500);
    if (!opts.title) {
      notice('Name a title above: ffmpeg-000 (edgecdn package --ffmpeg) is real video; title-000, title-001, ... are synthetic CMAF titles (coloured bars that mark their progress).');
      return;
    }
    try {
      await loadScript(opts.player === 'dash' ? 'vendor/dash.all.min.js' : 'vendor/hls.min.js');
      st.url = await sourceURL();
      $('source').textContent = st.url;
      video.muted = true; // browsers play muted video without a click; unmute in the controls
      video.autoplay = true;
      st.t0 = performance.now();
      if (opts.player === 'dash') startDash(st.url); else startHls(st.url);
      st.loaded = true;
    } catch (err) {
      st.error = err.message || String(err);
      notice(st.error);
    }
  }

  function notice(msg) { const n = $('notice'); n.textContent = msg; n.hidden = false; }

  // ---- panel -----------------------------------------------------------------------------------

  function text(id, v) { $(id).textContent = v; }
  let rendered = 0;
  function render() {
    const s = state();
    const last = lastSegment();
    text('s-player', `${opts.player === 'dash' ? 'dash.js' : 'hls.js'}, ${opts.src ? 'src' : opts.steering ? 'content steering' : 'direct'}`);
    text('s-pathway', s.pathway || (opts.steering && !opts.src ? '–' : 'none (no steering)'));
    text('s-priority', s.priority.length ? s.priority.join(' > ') : '–');
    text('s-edge', last ? (last.exposed ? last.servedBy || '–' : 'not exposed') + ` via ${last.host}` : '–');
    text('s-cache', last ? (last.exposed ? last.cache || '–' : 'not exposed') : '–');
    const thr = last && last.ms > 0 ? ` (last segment ${Math.round(last.bytes * 8 / last.ms)} kbit/s)` : '';
    text('s-bitrate', s.bitrateKbps ? `${s.bitrateKbps} kbit/s${thr}` : '–');
    text('s-buffer', `${s.bufferS.toFixed(1)} s`);
    text('s-ttff', s.ttffMs === null ? '–' : `${s.ttffMs} ms (${s.pageTtffMs} ms from opening the page)`);
    text('s-stalls', `${s.stalls} (${(s.stallMs / 1000).toFixed(1)} s${s.stalling ? ', stalled now' : ''})`);
    text('s-frames', `${s.frames} (${s.dropped})`);
    text('s-position', `${s.currentTime.toFixed(1)} / ${s.duration.toFixed(1)} s`);
    text('s-cmcd', s.cmcd || (opts.cmcd ? '–' : 'off'));
    if (st.segments.length !== rendered) {
      rendered = st.segments.length;
      const body = document.querySelector('#segments tbody');
      body.textContent = '';
      const segs = st.segments.slice(-30).reverse();
      segs.forEach((g, i) => {
        const tr = document.createElement('tr');
        const older = segs[i + 1];
        if (older && older.pathway !== g.pathway) tr.className = 'switch';
        const cells = [new Date(g.at).toLocaleTimeString(), g.pathway || '–', g.host,
          g.exposed ? g.servedBy : 'not exposed', g.exposed ? g.cache : 'not exposed', g.object,
          g.status || 'failed', (g.bytes / 1024).toFixed(0), g.ms];
        for (const c of cells) {
          const td = document.createElement('td');
          td.textContent = c;
          if (c === g.cache && /hit/.test(c)) td.className = 'hit';
          if (c === (g.status || 'failed') && (!g.status || g.status >= 400)) td.className = 'bad';
          tr.appendChild(td);
        }
        body.appendChild(tr);
      });
    }
    $('errors').textContent = st.errors.slice(-8).map((e) => `${new Date(e.at).toLocaleTimeString()} ${e.msg}`).join('\n');
  }

  function randomID() {
    const a = new Uint8Array(8);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  main();
})();
