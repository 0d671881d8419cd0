(function () {
"use strict";
var D = window.MEDEMBED_DATA, TIMES = {html: window.MEDEMBED_T0, data: performance.now()};
if (!D) { document.getElementById("status").textContent = "data.js did not load"; throw new Error("MEDEMBED_DATA missing: data.js did not load"); }
var TYPES = {u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i32: Int32Array, f32: Float32Array};
function b64(s, T) {
  var bin = atob(s), u8 = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  return new T(u8.buffer);
}
function $(id) { return document.getElementById(id); }
function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
function rgb(hex) { return [parseInt(hex.substr(1, 2), 16), parseInt(hex.substr(3, 2), 16), parseInt(hex.substr(5, 2), 16)]; }
function fmt(v) { if (v == null || isNaN(v)) return "–"; var a = Math.abs(v); return (a !== 0 && (a < 1e-3 || a >= 1e5)) ? v.toExponential(2) : (+v.toFixed(4)).toString(); }

var n = D.n, ids = D.ids;
var plot = $("plot"), glCanvas = $("gl"), ov = $("overlay"), octx = ov.getContext("2d"), card = $("hover");

// ---- data ----------------------------------------------------------------------------
var maps = {};
D.maps.forEach(function (m) { maps[m.name] = m; });
function mapXY(m) {  // Float32 xy in [-0.5, 0.5] (same scale on both axes)
  if (!m.pos) {
    var q = b64(m.xy, Uint16Array), p = new Float32Array(2 * n), ex = m.extent[0] / 2, ey = m.extent[1] / 2;
    for (var i = 0; i < n; i++) { p[2 * i] = q[2 * i] / 65535 - ex; p[2 * i + 1] = q[2 * i + 1] / 65535 - ey; }
    m.pos = p; m.grid = buildGrid(p);
  }
  return m.pos;
}
var colorings = {};
D.colorings.forEach(function (c) { colorings[c.name] = c; });
function decoded(c) {
  if (c.kind === "category" && !c.code) { c.code = b64(c.codes, TYPES[c.dtype]); c.greySet = {}; c.grey.forEach(function (k) { c.greySet[k] = 1; }); c.rgb = c.colors.map(rgb); }
  if (c.kind === "score" && !c.val) { c.val = b64(c.values, Float32Array); c.pc = b64(c.pct, Uint8Array); }
  return c;
}
var nbIdx = null, nbDist = null, K = 0;
if (D.neighbors) { K = D.neighbors.k; nbIdx = b64(D.neighbors.idx, Int32Array); nbDist = b64(D.neighbors.dist, Uint16Array); }
var T = D.thumbs, tiles = T ? b64(T.tiles, Int32Array) : null, failed = {};
if (T) T.failed.forEach(function (i) { failed[i] = 1; });
var rampRGB = D.ramp.map(rgb), NOISE = rgb(D.noise);
// issues: rows [point, type code, detail, score, rank, evidence, other point or -1], by point
var ISS = D.issues, issuesOf = {};
if (ISS) ISS.rows.forEach(function (r) { (issuesOf[r[0]] = issuesOf[r[0]] || []).push(r); });
// text search: per phrase uint8 cosine codes of every point (phrase-major) and its closest points
var SE = D.search, phraseIndex = {};
if (SE) {
  SE.codes = b64(SE.q, Uint8Array); SE.order = b64(SE.top, Int32Array);
  SE.phrases.forEach(function (p, j) { phraseIndex[p.toLowerCase()] = j; });
}

// ---- state ---------------------------------------------------------------------------
var S = {map: D.default_map, color: D.default_color, filter: "all", mode: "pan",
         hover: -1, pinned: -1, sel: null, selCount: 0, inFilter: null, search: -1, names: true};
var view = {cx: 0, cy: 0, z: 1, W: 1, H: 1, dpr: window.devicePixelRatio || 1, z0: 1};
var baseSize = Math.max(2.5, Math.min(8, 60 / Math.pow(Math.max(n, 1), 0.3)));
var baseAlpha = n > 50000 ? 0.55 : n > 5000 ? 0.7 : 0.85;

// ---- spatial index: uniform grid over [-0.5, 0.5]^2 ------------------------------------
function buildGrid(p) {
  var G = Math.max(1, Math.min(2048, Math.ceil(Math.sqrt(n / 3)))), cnt = new Uint32Array(G * G + 1), cell = new Uint32Array(n);
  for (var i = 0; i < n; i++) { var c = cellOf(p[2 * i], G) + G * cellOf(p[2 * i + 1], G); cell[i] = c; cnt[c + 1]++; }
  for (var j = 0; j < G * G; j++) cnt[j + 1] += cnt[j];
  var fill = cnt.slice(0, G * G), items = new Uint32Array(n);
  for (i = 0; i < n; i++) items[fill[cell[i]]++] = i;
  return {G: G, start: cnt, items: items};
}
function cellOf(v, G) { var c = Math.floor((v + 0.5) * G); return c < 0 ? 0 : c >= G ? G - 1 : c; }
function nearest(x, y, r) {  // nearest point in the filter within data radius r
  var m = maps[S.map], p = m.pos, g = m.grid, G = g.G, best = -1, bd = r * r;
  var x0 = cellOf(x - r, G), x1 = cellOf(x + r, G), y0 = cellOf(y - r, G), y1 = cellOf(y + r, G);
  for (var cy = y0; cy <= y1; cy++) for (var cx = x0; cx <= x1; cx++) {
    var c = cx + G * cy;
    for (var k = g.start[c]; k < g.start[c + 1]; k++) {
      var i = g.items[k]; if (S.inFilter && !S.inFilter[i]) continue;
      var dx = p[2 * i] - x, dy = p[2 * i + 1] - y, d = dx * dx + dy * dy;
      if (d <= bd) { bd = d; best = i; }
    }
  }
  return best;
}

// ---- view transform ------------------------------------------------------------------
function toScreen(x, y) { return [(x - view.cx) * view.z + view.W / 2, view.H / 2 - (y - view.cy) * view.z]; }
function toData(sx, sy) { return [(sx - view.W / 2) / view.z + view.cx, (view.H / 2 - sy) / view.z + view.cy]; }
function fit() {
  var m = maps[S.map], ex = Math.max(m.extent[0], 1e-6), ey = Math.max(m.extent[1], 1e-6);
  view.cx = 0; view.cy = 0; view.z = view.z0 = 0.92 * Math.min(view.W / ex, view.H / ey);
}
function pointSize() { return baseSize * Math.min(3, Math.pow(view.z / view.z0, 0.35)); }

// ---- colours and draw order ----------------------------------------------------------
var order = new Uint32Array(n), colors = new Uint8Array(4 * n), posBuf = new Float32Array(2 * n);
function rebuild() {
  var c = S.color ? decoded(colorings[S.color]) : null, inF = S.inFilter, sel = S.sel, keys = new Float64Array(n), i;
  var col = new Uint8Array(4 * n);
  for (i = 0; i < n; i++) {
    var r = 80, g = 110, b = 160, a = baseAlpha, layer = 2, sub = 0;
    if (c && c.kind === "category") {
      var k = c.code[i], cc = c.rgb[k]; r = cc[0]; g = cc[1]; b = cc[2];
      if (c.greySet[k]) { layer = 1; a = baseAlpha * 0.6; }
    } else if (c) {
      var pc = c.pc[i];
      if (pc === 0) { r = NOISE[0]; g = NOISE[1]; b = NOISE[2]; layer = 1; }
      else { var rr = rampRGB[Math.round((pc - 1) / 254 * (rampRGB.length - 1))]; r = rr[0]; g = rr[1]; b = rr[2]; sub = pc; }
    }
    if (sel && !sel[i]) { a *= 0.35; layer = 1; }
    if (sel && sel[i]) { layer = 3; a = Math.min(1, a + 0.2); }
    if (inF && !inF[i]) { r = 205; g = 205; b = 205; a = 0.3; layer = 0; sub = 0; }
    col[4 * i] = r; col[4 * i + 1] = g; col[4 * i + 2] = b; col[4 * i + 3] = Math.round(a * 255);
    keys[i] = (layer * 256 + sub) * 1048576 + i;
  }
  if (n <= 1048576) { keys.sort(); for (i = 0; i < n; i++) order[i] = keys[i] % 1048576; }
  else { var o = Array.from({length: n}, function (_, j) { return j; }); o.sort(function (a, b) { return Math.floor(keys[a] / 1048576) - Math.floor(keys[b] / 1048576); }); order.set(o); }
  var p = mapXY(maps[S.map]);
  for (var j = 0; j < n; j++) {
    i = order[j];
    posBuf[2 * j] = p[2 * i]; posBuf[2 * j + 1] = p[2 * i + 1];
    colors[4 * j] = col[4 * i]; colors[4 * j + 1] = col[4 * i + 1]; colors[4 * j + 2] = col[4 * i + 2]; colors[4 * j + 3] = col[4 * i + 3];
  }
  R.upload();
  draw();
}

// ---- renderers -----------------------------------------------------------------------
function webglRenderer() {
  var gl = glCanvas.getContext("webgl", {antialias: false, premultipliedAlpha: true, preserveDrawingBuffer: false});
  if (!gl) return null;
  function sh(type, src) { var s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s); if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s)); return s; }
  var prog = gl.createProgram();
  gl.attachShader(prog, sh(gl.VERTEX_SHADER,
    "attribute vec2 a_pos; attribute vec4 a_col; uniform vec2 u_c; uniform vec2 u_s; uniform float u_size; varying vec4 v_col; varying float v_size;" +
    "void main(){ gl_Position = vec4((a_pos - u_c) * u_s, 0.0, 1.0); gl_PointSize = u_size; v_size = u_size; v_col = a_col; }"));
  gl.attachShader(prog, sh(gl.FRAGMENT_SHADER,
    "precision mediump float; varying vec4 v_col; varying float v_size;" +
    "void main(){ vec2 d = gl_PointCoord - 0.5; float r = length(d) * v_size; float e = clamp(v_size * 0.5 - r, 0.0, 1.0);" +
    " if (e <= 0.0) discard; gl_FragColor = vec4(v_col.rgb * v_col.a * e, v_col.a * e); }"));
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
  var bp = gl.createBuffer(), bc = gl.createBuffer(), aPos = gl.getAttribLocation(prog, "a_pos"), aCol = gl.getAttribLocation(prog, "a_col");
  var uC = gl.getUniformLocation(prog, "u_c"), uS = gl.getUniformLocation(prog, "u_s"), uSize = gl.getUniformLocation(prog, "u_size");
  var maxSize = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1];
  return {
    kind: "webgl",
    upload: function () {
      gl.bindBuffer(gl.ARRAY_BUFFER, bp); gl.bufferData(gl.ARRAY_BUFFER, posBuf, gl.DYNAMIC_DRAW);
      gl.bindBuffer(gl.ARRAY_BUFFER, bc); gl.bufferData(gl.ARRAY_BUFFER, colors, gl.DYNAMIC_DRAW);
    },
    draw: function () {
      gl.viewport(0, 0, glCanvas.width, glCanvas.height);
      gl.clearColor(1, 1, 1, 1); gl.clear(gl.COLOR_BUFFER_BIT);
      gl.enable(gl.BLEND); gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
      gl.useProgram(prog);
      gl.bindBuffer(gl.ARRAY_BUFFER, bp); gl.enableVertexAttribArray(aPos); gl.vertexAttribPointer(aPos, 2, gl.FLOAT, false, 0, 0);
      gl.bindBuffer(gl.ARRAY_BUFFER, bc); gl.enableVertexAttribArray(aCol); gl.vertexAttribPointer(aCol, 4, gl.UNSIGNED_BYTE, true, 0, 0);
      gl.uniform2f(uC, view.cx, view.cy); gl.uniform2f(uS, 2 * view.z / view.W, 2 * view.z / view.H);
      gl.uniform1f(uSize, Math.min(maxSize, pointSize() * view.dpr));
      gl.drawArrays(gl.POINTS, 0, n);
      return n;
    }
  };
}
function canvasRenderer() {
  // a canvas that had a WebGL context cannot give a 2D one: draw on a fresh canvas
  var fresh = document.createElement("canvas"); fresh.id = "gl"; glCanvas.replaceWith(fresh); glCanvas = fresh;
  var ctx = glCanvas.getContext("2d");
  return {
    kind: "canvas2d",
    upload: function () {},
    draw: function () {
      var d = view.dpr, s = pointSize() * d;
      ctx.setTransform(1, 0, 0, 1, 0, 0); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, glCanvas.width, glCanvas.height);
      for (var j = 0; j < n; j++) {
        var q = toScreen(posBuf[2 * j], posBuf[2 * j + 1]);
        ctx.fillStyle = "rgba(" + colors[4 * j] + "," + colors[4 * j + 1] + "," + colors[4 * j + 2] + "," + (colors[4 * j + 3] / 255) + ")";
        ctx.fillRect(q[0] * d - s / 2, q[1] * d - s / 2, s, s);
      }
      return n;
    }
  };
}
var R = null;
try { R = webglRenderer(); } catch (e) { console.warn("WebGL unavailable, drawing with canvas 2D:", e.message); }
if (!R) R = canvasRenderer();
TIMES.renderer = performance.now();

var frame = 0;
function draw() {
  if (frame) return;
  frame = requestAnimationFrame(function () { frame = 0; drawNow(); });
}
function drawNow() {
  explorer.renderedPoints = R.draw();
  drawOverlay();
}

// ---- overlay: hover, pinned + neighbours, box / lasso ---------------------------------
var drag = null;
function ring(i, color, rad, width) {
  var p = maps[S.map].pos, q = toScreen(p[2 * i], p[2 * i + 1]);
  octx.beginPath(); octx.arc(q[0], q[1], rad, 0, 2 * Math.PI); octx.lineWidth = width; octx.strokeStyle = color; octx.stroke();
  return q;
}
function drawOverlay() {
  octx.setTransform(view.dpr, 0, 0, view.dpr, 0, 0);
  octx.clearRect(0, 0, view.W, view.H);
  var p = maps[S.map].pos, rad = pointSize() / 2 + 4;
  if (S.sel && S.selCount <= 5000) {  // few selected points: ring each so they stand out
    octx.beginPath();
    for (var s = 0; s < n; s++) if (S.sel[s]) { var q0 = toScreen(p[2 * s], p[2 * s + 1]); octx.moveTo(q0[0] + rad - 1, q0[1]); octx.arc(q0[0], q0[1], rad - 1, 0, 2 * Math.PI); }
    octx.lineWidth = 1.5; octx.strokeStyle = "#2b6cb0"; octx.stroke();
  }
  if (S.pinned >= 0) {
    var a = toScreen(p[2 * S.pinned], p[2 * S.pinned + 1]);
    octx.strokeStyle = "rgba(0,0,0,.35)"; octx.lineWidth = 1;
    for (var k = 0; k < K; k++) {
      var j = nbIdx[S.pinned * K + k], b = toScreen(p[2 * j], p[2 * j + 1]);
      octx.beginPath(); octx.moveTo(a[0], a[1]); octx.lineTo(b[0], b[1]); octx.stroke();
    }
    for (k = 0; k < K; k++) {  // a white halo under each ring keeps it visible on dense colour
      ring(nbIdx[S.pinned * K + k], "rgba(255,255,255,.9)", rad, 3.5);
      ring(nbIdx[S.pinned * K + k], k === S.nbHover ? "#d00" : "#222", rad, k === S.nbHover ? 2.5 : 1.5);
    }
    (issuesOf[S.pinned] || []).forEach(function (r) {  // the other image of a duplicate / leak
      if (r[6] < 0) return;
      ring(r[6], "rgba(255,255,255,.9)", rad + 1, 4.5); ring(r[6], "#dd6b20", rad + 1, 2.5);
    });
    ring(S.pinned, "#000", rad + 2, 3); ring(S.pinned, "#fff", rad + 2, 1);
  }
  drawNames(p);
  if (S.hover >= 0) ring(S.hover, "#000", rad, 2);
  if (drag && drag.path && drag.path.length > 1) {
    octx.beginPath(); octx.moveTo(drag.path[0][0], drag.path[0][1]);
    if (S.mode === "box") { var q = drag.path[drag.path.length - 1]; octx.rect(drag.path[0][0], drag.path[0][1], q[0] - drag.path[0][0], q[1] - drag.path[0][1]); }
    else { drag.path.forEach(function (q) { octx.lineTo(q[0], q[1]); }); octx.closePath(); }
    octx.fillStyle = "rgba(43,108,176,.12)"; octx.fill(); octx.strokeStyle = "#2b6cb0"; octx.lineWidth = 1.5; octx.setLineDash([5, 3]); octx.stroke(); octx.setLineDash([]);
  }
}

function drawNames(p) {  // the colouring clustering's names, at each cluster's medoid
  var c = S.color ? colorings[S.color] : null, shown = [];
  explorer.drawnNames = shown;
  if (!S.names || !c || !c.medoids || !c.medoids.length) return;
  octx.font = "600 12px system-ui, sans-serif"; octx.textBaseline = "bottom"; octx.lineJoin = "round";
  c.medoids.forEach(function (m) {
    var i = m[0], text = c.names[m[1]], q = toScreen(p[2 * i], p[2 * i + 1]);
    if (S.inFilter && !S.inFilter[i]) return;
    if (text.length > 32) text = text.slice(0, 31) + "…";
    ring(i, "#000", 3, 1.5);
    var w = octx.measureText(text).width, x = Math.min(Math.max(2, q[0] - w / 2), view.W - w - 2), y = q[1] - 5;
    octx.lineWidth = 3.5; octx.strokeStyle = "rgba(255,255,255,.92)"; octx.strokeText(text, x, y);
    octx.fillStyle = c.colors[m[1]] === D.noise ? "#444" : "#111"; octx.fillText(text, x, y);
    shown.push({point: i, text: c.names[m[1]], x: q[0], y: q[1]});
  });
}

// ---- text search: colour and rank by the cosine to a phrase ---------------------------
function cosine(j, i) { return SE.lo[j] + SE.codes[j * n + i] / 255 * (SE.hi[j] - SE.lo[j]); }
function searchColoring(j) {  // a score colouring: the cosine, its colour linear from lowest to highest
  var val = new Float32Array(n), pc = new Uint8Array(n), q = SE.codes.subarray(j * n, (j + 1) * n);
  for (var i = 0; i < n; i++) { val[i] = cosine(j, i); pc[i] = 1 + Math.round(q[i] * 254 / 255); }
  return {name: "search: " + SE.phrases[j], group: "search", kind: "score", val: val, pc: pc,
          min: SE.lo[j], max: SE.hi[j], phrase: j};
}
function ranked(j, count) {  // points in the filter by cosine to phrase j, closest first
  var top = SE.order.subarray(j * SE.k_top, (j + 1) * SE.k_top), out = [], seen = new Uint8Array(n), k, i;
  for (k = 0; k < top.length && out.length < count; k++) { i = top[k]; seen[i] = 1; if (!S.inFilter || S.inFilter[i]) out.push(i); }
  if (out.length < count && top.length < n) {  // past the exact top: by the uint8 codes
    var q = SE.codes.subarray(j * n, (j + 1) * n), rest = [];
    for (i = 0; i < n; i++) if (!seen[i] && (!S.inFilter || S.inFilter[i])) rest.push(i);
    rest.sort(function (a, b) { return q[b] - q[a] || a - b; });
    out = out.concat(rest.slice(0, count - out.length));
  }
  return out;
}
var N_RESULTS = 24;
function showResults() {
  var box = $("search-results"), j = S.search; box.innerHTML = "";
  $("search-panel").hidden = j < 0;
  if (j < 0) return;
  $("search-title").textContent = "Closest to “" + SE.phrases[j] + "” (cosine, image vs text tower)";
  var grid = el("div", "nbgrid");
  ranked(j, N_RESULTS).forEach(function (i, k) {
    var cell = el("div", "nb" + (k === 0 ? " first" : ""));
    cell.appendChild(thumb(i, 72)); cell.appendChild(el("div", null, "#" + (k + 1) + " · " + cosine(j, i).toFixed(3)));
    cell.title = ids[i]; cell.dataset.index = i;
    cell.onclick = function () { pin(i); };
    grid.appendChild(cell);
  });
  box.appendChild(grid);
  if (S.inFilter) box.appendChild(el("div", "small", "within the points shown (" + S.filter + ")"));
}
function findPhrase(text) {  // exact phrase (any case), else the first phrase containing the text
  var t = text.trim().toLowerCase();
  if (!t) return -1;
  if (phraseIndex[t] != null) return phraseIndex[t];
  for (var j = 0; j < SE.phrases.length; j++) if (SE.phrases[j].toLowerCase().indexOf(t) >= 0) return j;
  return -1;
}
function setSearch(text) {  // colour by and rank the images for a phrase; "" clears; returns the phrase index
  if (!SE) return -1;
  var j = text == null || text === "" ? -1 : findPhrase(String(text)), old = S.search >= 0 ? "search: " + SE.phrases[S.search] : null;
  if (j < 0 && text) return -1;  // no such phrase: nothing changes
  if (old && colorings[old]) delete colorings[old];
  S.search = j;
  if (j < 0) {
    searchOpt.hidden = true; searchGroup.hidden = true; $("search").value = "";
    if (S.color === old) setColor(S.colorBefore || D.default_color);
    showResults();
    return -1;
  }
  var c = searchColoring(j);
  colorings[c.name] = c;
  searchOpt.value = c.name; searchOpt.textContent = "“" + SE.phrases[j] + "”"; searchOpt.hidden = false; searchGroup.hidden = false;
  $("search").value = SE.phrases[j];
  if (!old || S.color !== old) S.colorBefore = S.color;
  setColor(c.name);
  showResults();
  return j;
}

// ---- thumbnails from sprite sheets ---------------------------------------------------
function thumb(i, px) {
  var w = el("div", "thumb"); w.style.width = w.style.height = px + "px";
  var t = tiles ? tiles[i] : -1;
  if (t < 0) { w.classList.add("none"); w.title = "no thumbnail"; return w; }
  var s = Math.floor(t / T.per), slot = t % T.per, k = px / T.tile, img = new Image();
  img.alt = ids[i]; img.draggable = false;
  img.style.width = (T.cols * T.tile * k) + "px";
  img.style.left = (-(slot % T.cols) * T.tile * k) + "px";
  img.style.top = (-Math.floor(slot / T.cols) * T.tile * k) + "px";
  img.onerror = function () { console.error("thumbnail sheet failed to load: " + img.src); };
  img.src = T.url + T.sheets[s];
  w.appendChild(img);
  if (failed[i]) w.title = "image unreadable: grey tile";
  return w;
}

// ---- fields of one point -------------------------------------------------------------
function fields(i, groups) {
  var t = el("table", "kv");
  D.colorings.forEach(function (c) {
    if (groups.indexOf(c.group) < 0) return;
    decoded(c);
    var v = c.kind === "category" ? catName(c, c.code[i]) : fmt(c.val[i]) + (c.pc[i] ? "  (p" + Math.round((c.pc[i] - 1) / 2.54) + ")" : "");
    var tr = el("tr"); tr.appendChild(el("td", null, (c.group === "cluster" ? "cluster " : c.group === "outlier" ? "score " : "") + c.name)); tr.appendChild(el("td", null, v));
    t.appendChild(tr);
  });
  if (groups.indexOf("label") >= 0) {  // findings: one line, the present ones
    var fs = D.colorings.filter(function (c) { return c.group === "finding"; });
    if (fs.length) {
      var has = fs.filter(function (c) { decoded(c); return c.cats[c.code[i]] === "present"; }).map(function (c) { return c.name; });
      var tf = el("tr"); tf.appendChild(el("td", null, "findings")); tf.appendChild(el("td", "wrap", has.length ? has.join(", ") : "none"));
      t.appendChild(tf);
    }
  }
  return t;
}
function catName(c, k) { return c.names && c.names[k] ? c.cats[k] + " · " + c.names[k] : c.cats[k]; }
function issueTypes(i) {  // the distinct issue types of point i, in the page's order
  var seen = {}, out = [];
  (issuesOf[i] || []).forEach(function (r) { if (!seen[r[1]]) { seen[r[1]] = 1; out.push(ISS.names[r[1]]); } });
  return out;
}
function issueList(i) {  // the pinned point's issues: type, detail, score, rank, evidence, other image
  var rows = issuesOf[i], box = el("div", "issues");
  rows.forEach(function (r) {
    var item = el("div", "issue"), head = el("div", "issue-head");
    head.appendChild(el("span", "issue-type", ISS.names[r[1]]));
    if (r[2]) head.appendChild(el("span", "issue-detail", r[2]));
    var sc = el("span", "issue-score", r[3] == null ? "–" : r[3].toFixed(2));
    sc.title = "score (0–1, higher = more suspect)" + (r[4] != null ? "; rank " + r[4] + " of " + ISS.ranked[r[1]] + " " + ISS.names[r[1]] + " rows" : "");
    head.appendChild(sc);
    if (r[4] != null) head.appendChild(el("span", "small", "#" + r[4] + "/" + ISS.ranked[r[1]]));
    item.appendChild(head);
    if (r[5]) item.appendChild(el("div", "evidence", r[5]));
    if (r[6] >= 0) {
      var j = r[6], b = el("button", "other");
      b.type = "button"; b.title = "pin the other image"; b.dataset.index = j;
      b.appendChild(thumb(j, 40)); b.appendChild(el("span", null, "other: " + ids[j]));
      b.onclick = function () { pin(j); };
      item.appendChild(b);
    }
    box.appendChild(item);
  });
  return box;
}
function showHover(i, sx, sy) {
  if (i === S.hover && card.style.display === "block") { placeCard(sx, sy); return; }
  S.hover = i;
  card.innerHTML = "";
  if (i < 0) { card.style.display = "none"; draw(); return; }
  var row = el("div", "row"); row.appendChild(thumb(i, 96));
  var right = el("div"); right.appendChild(el("div", "id", ids[i])); right.appendChild(fields(i, ["label", "cluster", "duplicates"]));
  row.appendChild(right); card.appendChild(row); card.appendChild(fields(i, ["outlier"]));
  if (S.search >= 0) card.appendChild(el("div", "small", "cosine to “" + SE.phrases[S.search] + "”: " + fmt(cosine(S.search, i))));
  var its = issueTypes(i);
  if (its.length) card.appendChild(el("div", "issue-count", issuesOf[i].length + (issuesOf[i].length === 1 ? " issue: " : " issues: ") + its.join(", ")));
  card.style.display = "block"; placeCard(sx, sy); draw();
}
function placeCard(sx, sy) {
  var w = card.offsetWidth, h = card.offsetHeight, x = sx + 16, y = sy + 16;
  if (x + w > view.W) x = Math.max(0, sx - w - 16);
  if (y + h > view.H) y = Math.max(0, view.H - h - 4);
  card.style.left = x + "px"; card.style.top = y + "px";
}
function pin(i) {
  S.pinned = i; S.nbHover = -1;
  var box = $("pinned"); box.innerHTML = "";
  if (i < 0) { box.appendChild(el("div", "small", "Click a point to pin it: its image, path and nearest neighbours appear here.")); draw(); return; }
  box.appendChild(thumb(i, 192));
  box.appendChild(el("div", "id", ids[i]));
  box.appendChild(el("div", "path", D.prefix + D.paths[i]));
  if (issuesOf[i]) {
    box.appendChild(el("h2", null, "Issues (" + issuesOf[i].length + ")"));
    box.appendChild(issueList(i));
  }
  if (K) {
    box.appendChild(el("h2", null, "Nearest neighbours (" + (D.neighbors.metric || "kNN") + ")"));
    var grid = el("div", "nbgrid");
    for (var k = 0; k < K; k++) (function (k) {
      var j = nbIdx[i * K + k], d = nbDist[i * K + k] / 65535 * D.neighbors.dmax, cell = el("div", "nb");
      cell.appendChild(thumb(j, 72)); cell.appendChild(el("div", null, "#" + (k + 1) + " d=" + fmt(d)));
      cell.title = ids[j]; cell.dataset.index = j;
      cell.onclick = function () { pin(j); };
      cell.onmouseenter = function () { S.nbHover = k; draw(); };
      cell.onmouseleave = function () { S.nbHover = -1; draw(); };
      grid.appendChild(cell);
    })(k);
    box.appendChild(grid);
  }
  box.appendChild(el("h2", null, "Labels, clusters, scores"));
  box.appendChild(fields(i, ["label", "cluster", "duplicates", "outlier"]));
  draw();
}

// ---- legend, filters, selection -------------------------------------------------------
function legend() {
  var box = $("legend"); box.innerHTML = "";
  $("names-box").hidden = !(S.color && colorings[S.color].medoids && colorings[S.color].medoids.length);
  if (!S.color) return;
  var c = decoded(colorings[S.color]);
  if (c.kind === "category") {
    var idx = c.cats.map(function (_, k) { return k; }).sort(function (a, b) { return c.counts[b] - c.counts[a]; });
    var shown = idx.slice(0, 40);
    shown.forEach(function (k) {
      var r = el("div", "legend-row"), sw = el("span", "sw"); sw.style.background = c.colors[k];
      r.appendChild(sw); r.appendChild(el("span", c.names && c.names[k] ? "cname" : null, catName(c, k))); r.appendChild(el("span", "small", "(" + c.counts[k] + ")"));
      box.appendChild(r);
    });
    if (idx.length > shown.length) box.appendChild(el("div", "small", "… and " + (idx.length - shown.length) + " more groups"));
    box.appendChild(el("div", "small", (c.cats.length - c.grey.length) + " groups" + (c.grey.length ? "; grey: " + c.grey.map(function (k) { return c.cats[k]; }).join(", ") : "")));
  } else {
    var bar = el("div", "ramp"); bar.style.background = "linear-gradient(to right," + D.ramp.filter(function (_, k) { return k % 32 === 0 || k === D.ramp.length - 1; }).join(",") + ")";
    box.appendChild(bar);
    var lab = el("div", "small"); lab.style.display = "flex"; lab.style.justifyContent = "space-between";
    lab.appendChild(el("span", null, "low " + fmt(c.min))); lab.appendChild(el("span", null, c.group === "search" ? "cosine" : "percentile")); lab.appendChild(el("span", null, fmt(c.max) + " high"));
    box.appendChild(lab);
    box.appendChild(el("div", "small", c.group === "search"
      ? "Colour = cosine similarity of the image to “" + SE.phrases[c.phrase] + "” (text tower), lowest to highest; closest drawn on top."
      : c.group === "issues"
      ? "Colour = rank of the issue score (higher = more suspect); grey: no such issue; most suspect drawn on top."
      : "Colour = rank of the score (higher = more outlying); most outlying drawn on top."));
  }
}
function setFilter(key) {
  S.filter = key;
  var f = D.filters.filter(function (x) { return x.key === key; })[0];
  if (!f) { S.inFilter = null; }
  else { S.inFilter = new Uint8Array(n); f.idx.forEach(function (i) { S.inFilter[i] = 1; }); }
  if (S.search >= 0) showResults();
  if (S.sel && S.inFilter) { for (var i = 0; i < n; i++) if (!S.inFilter[i]) S.sel[i] = 0; setSelection(S.sel); return; }
  rebuild(); status();
}
function setSelection(sel) {
  var count = 0, i;
  if (sel) for (i = 0; i < n; i++) count += sel[i];
  S.sel = count ? sel : null; S.selCount = count;
  var list = $("sel-list"); list.innerHTML = "";
  $("sel-count").textContent = count ? count + " selected" : "none (Box or Lasso, then drag; shift adds)";
  $("export").disabled = $("clear").disabled = !count;
  if (count) {
    var shown = 0;
    for (i = 0; i < n && shown < 500; i++) if (sel[i]) {
      (function (i) { var d = el("div", null, ids[i]); d.onclick = function () { pin(i); }; list.appendChild(d); })(i); shown++;
    }
    if (count > shown) list.appendChild(el("div", "muted", "… " + (count - shown) + " more in the CSV"));
  }
  rebuild(); status();
}
function csvCell(v) { v = v == null ? "" : String(v); return /[",\n\r]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
function selectionCSV() {
  var m = maps[S.map], p = m.pos, cols = D.colorings.map(decoded);
  var head = ["id", "path", S.map + "_x", S.map + "_y"].concat(cols.map(function (c) { return c.csv || (c.group === "outlier" ? "score_" : c.group === "cluster" ? "cluster_" : "") + c.name; }));
  if (ISS) head.push("issues");
  var lines = [head.map(csvCell).join(",")];
  for (var i = 0; i < n; i++) if (S.sel && S.sel[i]) {
    var row = [ids[i], D.prefix + D.paths[i], (p[2 * i] + m.extent[0] / 2) * m.span + m.origin[0], (p[2 * i + 1] + m.extent[1] / 2) * m.span + m.origin[1]];
    cols.forEach(function (c) { row.push(c.kind === "category" ? (c.greySet[c.code[i]] && c.cats[c.code[i]] === "noise" ? "-1" : c.cats[c.code[i]]) : c.val[i]); });
    if (ISS) row.push((issuesOf[i] || []).map(function (r) { return ISS.types[r[1]]; }).filter(function (t, k, a) { return a.indexOf(t) === k; }).join(";"));
    lines.push(row.map(csvCell).join(","));
  }
  return lines.join("\n") + "\n";
}
function exportCSV() {
  var blob = new Blob([selectionCSV()], {type: "text/csv"}), a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = "selection_" + S.selCount + ".csv";
  document.body.appendChild(a); a.click(); setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}
function selectIn(test, add) {
  var p = maps[S.map].pos, sel = add && S.sel ? S.sel : new Uint8Array(n);
  for (var i = 0; i < n; i++) if ((!S.inFilter || S.inFilter[i]) && test(p[2 * i], p[2 * i + 1])) sel[i] = 1;
  setSelection(sel);
}
function inPolygon(poly, x, y) {
  var inside = false;
  for (var a = 0, b = poly.length - 1; a < poly.length; b = a++) {
    var xa = poly[a][0], ya = poly[a][1], xb = poly[b][0], yb = poly[b][1];
    if ((ya > y) !== (yb > y) && x < (xb - xa) * (y - ya) / (yb - ya) + xa) inside = !inside;
  }
  return inside;
}
function status() {
  var f = S.inFilter ? D.filters.filter(function (x) { return x.key === S.filter; })[0].idx.length + " of " : "";
  $("status").textContent = f + n.toLocaleString() + " points · " + R.kind + (S.selCount ? " · " + S.selCount + " selected" : "");
}

// ---- interaction ---------------------------------------------------------------------
function local(ev) { var r = plot.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; }
function hitAt(sx, sy) { var d = toData(sx, sy); return nearest(d[0], d[1], (pointSize() / 2 + 4) / view.z); }
plot.addEventListener("mousedown", function (ev) {
  if (ev.button !== 0) return;
  var q = local(ev); drag = {start: q, last: q, path: [q], moved: false, add: ev.shiftKey}; ev.preventDefault();
});
window.addEventListener("mousemove", function (ev) {
  var q = local(ev);
  if (drag) {
    if (Math.abs(q[0] - drag.start[0]) + Math.abs(q[1] - drag.start[1]) > 3) drag.moved = true;
    if (S.mode === "pan") { view.cx -= (q[0] - drag.last[0]) / view.z; view.cy += (q[1] - drag.last[1]) / view.z; drag.last = q; showHover(-1); draw(); }
    else { drag.path.push(q); draw(); }
    return;
  }
  if (ev.target !== ov && ev.target !== glCanvas) { if (S.hover >= 0) showHover(-1); return; }
  showHover(hitAt(q[0], q[1]), q[0], q[1]);
});
window.addEventListener("mouseup", function () {
  if (!drag) return;
  var d = drag; drag = null;
  if (!d.moved) { var i = hitAt(d.start[0], d.start[1]); pin(i); return; }
  if (S.mode === "box") {
    var a = toData(d.start[0], d.start[1]), b = toData(d.path[d.path.length - 1][0], d.path[d.path.length - 1][1]);
    var x0 = Math.min(a[0], b[0]), x1 = Math.max(a[0], b[0]), y0 = Math.min(a[1], b[1]), y1 = Math.max(a[1], b[1]);
    selectIn(function (x, y) { return x >= x0 && x <= x1 && y >= y0 && y <= y1; }, d.add);
  } else if (S.mode === "lasso") {
    var poly = d.path.map(function (q) { return toData(q[0], q[1]); });
    selectIn(function (x, y) { return inPolygon(poly, x, y); }, d.add);
  }
  draw();
});
plot.addEventListener("wheel", function (ev) {
  ev.preventDefault();
  var q = local(ev), before = toData(q[0], q[1]), f = Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015));
  view.z = Math.max(view.z0 * 0.2, Math.min(view.z0 * 500, view.z * f));
  var after = toData(q[0], q[1]); view.cx += before[0] - after[0]; view.cy += before[1] - after[1];
  showHover(-1); draw();
}, {passive: false});
plot.addEventListener("mouseleave", function () { if (!drag) showHover(-1); });
function setMode(m) {
  S.mode = m;
  Array.prototype.forEach.call(document.querySelectorAll(".modes button"), function (b) { b.classList.toggle("on", b.dataset.mode === m); });
  plot.classList.toggle("pan", m === "pan");
}
document.addEventListener("keydown", function (ev) {
  if (ev.target.tagName === "SELECT" || ev.target.tagName === "INPUT") return;
  var m = {p: "pan", b: "box", l: "lasso"}[ev.key];
  if (m) setMode(m);
  if (ev.key === "Escape") { pin(-1); setSelection(null); }
});
function resize() {
  view.dpr = window.devicePixelRatio || 1;
  var W = plot.clientWidth, H = plot.clientHeight, refit = view.W === 1;
  var keep = refit ? 1 : view.z / view.z0;
  view.W = W; view.H = H;
  [glCanvas, ov].forEach(function (c) { c.width = Math.round(W * view.dpr); c.height = Math.round(H * view.dpr); });
  var cx = view.cx, cy = view.cy; fit();
  if (!refit) { view.z *= keep; view.cx = cx; view.cy = cy; }
  drawNow();
}

// ---- controls ------------------------------------------------------------------------
function option(sel, value, text) { var o = el("option", null, text); o.value = value; sel.appendChild(o); }
var mapSel = $("map"), colSel = $("color"), filSel = $("filter");
D.maps.forEach(function (m) { option(mapSel, m.name, m.name); });
var groups = {label: "labels", finding: "findings", cluster: "clusterings", outlier: "outlier scores", duplicates: "near-duplicates", issues: "issues"};
Object.keys(groups).forEach(function (g) {
  var cs = D.colorings.filter(function (c) { return c.group === g; });
  if (!cs.length) return;
  var og = el("optgroup"); og.label = groups[g]; colSel.appendChild(og);
  cs.forEach(function (c) { option(og, c.name, c.name); });
});
var searchGroup = el("optgroup"), searchOpt = el("option");
searchGroup.label = "text search"; searchGroup.hidden = true; searchOpt.hidden = true;
searchGroup.appendChild(searchOpt); colSel.appendChild(searchGroup);
if (SE) {
  var dl = $("phrases");
  SE.phrases.forEach(function (p) { var o = el("option"); o.value = p; dl.appendChild(o); });
  $("search-box").hidden = false;
  var box = $("search");
  box.addEventListener("input", function () { if (phraseIndex[box.value.trim().toLowerCase()] != null) setSearch(box.value); else if (!box.value) setSearch(""); });
  box.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { if (setSearch(box.value) < 0 && box.value) box.setCustomValidity("no such phrase"); box.reportValidity(); }
    else box.setCustomValidity("");
    if (ev.key === "Escape") { setSearch(""); box.blur(); }
  });
}
$("names").onchange = function () { S.names = $("names").checked; draw(); };
option(filSel, "all", "all points");
D.filters.forEach(function (f) { option(filSel, f.key, f.name); if (f.disabled) filSel.lastChild.disabled = true; });
mapSel.value = S.map; if (S.color) colSel.value = S.color;
mapSel.onchange = function () { setMap(mapSel.value); };
colSel.onchange = function () { setColor(colSel.value); };
filSel.onchange = function () { setFilter(filSel.value); };
Array.prototype.forEach.call(document.querySelectorAll(".modes button"), function (b) { b.onclick = function () { setMode(b.dataset.mode); }; });
$("reset").onclick = function () { fit(); draw(); };
$("export").onclick = exportCSV;
$("clear").onclick = function () { setSelection(null); };
function setMap(m) { S.map = m; mapSel.value = m; mapXY(maps[m]); fit(); showHover(-1); rebuild(); }
function setColor(c) { S.color = c; colSel.value = c; legend(); rebuild(); if (S.pinned >= 0) pin(S.pinned); }

var explorer = window.explorer = {
  n: n, renderedPoints: 0, ready: false, renderer: R.kind, state: S, view: view,
  screenOf: function (i) { var p = maps[S.map].pos, q = toScreen(p[2 * i], p[2 * i + 1]), r = plot.getBoundingClientRect(); return {x: q[0] + r.left, y: q[1] + r.top}; },
  pin: pin, setMap: setMap, setColor: setColor, setFilter: setFilter, setMode: setMode,
  search: setSearch, ranked: function (count) { return S.search >= 0 ? ranked(S.search, count || N_RESULTS) : []; }, drawnNames: [],
  select: function (idx) { var s = new Uint8Array(n); idx.forEach(function (i) { s[i] = 1; }); setSelection(s); },
  selectionCSV: selectionCSV, indexOf: function (id) { return ids.indexOf(id); }
};
mapXY(maps[S.map]);
new ResizeObserver(function () { resize(); }).observe(plot);
resize(); legend(); setSelection(null); pin(-1);
status(); drawNow();
TIMES.ready = performance.now();
explorer.timings = TIMES;
explorer.ready = true;
document.title = D.title;
$("title").textContent = D.title;
})();
