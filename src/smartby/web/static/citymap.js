// The city map on a canvas: district outlines as the base map, every device as a dot coloured by
// its state. Drag, wheel, pinch or the keyboard move and zoom it; a click picks the nearest dot.
// Longitude and latitude are drawn with equal distances (x scaled by cos of the mean latitude).

const TAU = Math.PI * 2;

export class CityMapView {
  constructor(canvas, { onSelect, onHover } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.onSelect = onSelect || (() => {});
    this.onHover = onHover || (() => {});
    this.districts = [];
    this.n = 0;
    this.x = new Float64Array(0); // projected positions
    this.y = new Float64Array(0);
    this.domain = new Uint8Array(0);
    this.colour = new Uint16Array(0); // index into this.palette
    this.palette = [];
    this.order = new Uint32Array(0); // device indexes sorted by colour
    this.visible = new Set();
    this.selected = -1;
    this.k = Math.cos((55.68 * Math.PI) / 180);
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.fitted = false;
    this.drawnMarkers = 0;
    this.frame = 0;
    this.pointers = new Map();
    this.dragged = 0;
    this.width = 0;
    this.height = 0;
    this.listen();
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  // -- data ---------------------------------------------------------------------------------------

  setDistricts(districts) {
    this.districts = districts.map((d) => ({
      name: d.name,
      rings: d.rings.map((ring) => ring.map(([lon, lat]) => [lon * this.k, -lat])),
    }));
    for (const d of this.districts) {
      const ring = d.rings.reduce((a, b) => (b.length > a.length ? b : a), []);
      let sx = 0, sy = 0;
      for (const [x, y] of ring) { sx += x; sy += y; }
      d.label = ring.length ? [sx / ring.length, sy / ring.length] : null;
    }
    this.request();
  }

  // devices: {lon, lat, domain, colour} arrays of equal length; palette: colour strings.
  setDevices({ lon, lat, domain, colour }, palette) {
    const n = lon.length;
    this.n = n;
    this.x = new Float64Array(n);
    this.y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.x[i] = lon[i] * this.k;
      this.y[i] = -lat[i];
    }
    this.domain = Uint8Array.from(domain);
    this.palette = palette;
    this.recolour(colour);
    if (!this.fitted) this.fit();
  }

  recolour(colour) {
    this.colour = Uint16Array.from(colour);
    const order = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    this.order = order.sort((a, b) => this.colour[a] - this.colour[b]);
    this.request();
  }

  setVisibleDomains(codes) {
    this.visible = new Set(codes);
    this.request();
  }

  select(index) {
    this.selected = index;
    this.request();
  }

  // -- view ---------------------------------------------------------------------------------------

  bounds() {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    const take = (x, y) => {
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    };
    for (const d of this.districts) for (const ring of d.rings) for (const [x, y] of ring) take(x, y);
    for (let i = 0; i < this.n; i++) take(this.x[i], this.y[i]);
    return x0 <= x1 ? [x0, y0, x1, y1] : null;
  }

  fit() {
    const b = this.bounds();
    if (!b || !this.width || !this.height) return;
    const [x0, y0, x1, y1] = b;
    const w = Math.max(x1 - x0, 1e-4), h = Math.max(y1 - y0, 1e-4);
    this.scale = Math.min(this.width / w, this.height / h) * 0.94;
    this.fitScale = this.scale;
    this.tx = this.width / 2 - ((x0 + x1) / 2) * this.scale;
    this.ty = this.height / 2 - ((y0 + y1) / 2) * this.scale;
    this.fitted = true;
    this.request();
  }

  zoomBy(factor, cx = this.width / 2, cy = this.height / 2) {
    const next = Math.min(Math.max(this.scale * factor, (this.fitScale || this.scale) / 4), (this.fitScale || this.scale) * 400);
    const f = next / this.scale;
    this.tx = cx - (cx - this.tx) * f;
    this.ty = cy - (cy - this.ty) * f;
    this.scale = next;
    this.request();
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.request();
  }

  centreOn(index) {
    if (index < 0 || index >= this.n) return;
    const sx = this.x[index] * this.scale + this.tx, sy = this.y[index] * this.scale + this.ty;
    if (sx < 20 || sy < 20 || sx > this.width - 20 || sy > this.height - 20) {
      this.panBy(this.width / 2 - sx, this.height / 2 - sy);
    }
  }

  // Where device `index` is drawn, in CSS pixels of the page (for tests and tools).
  positionOf(index) {
    const rect = this.canvas.getBoundingClientRect();
    return {
      x: rect.left + this.x[index] * this.scale + this.tx,
      y: rect.top + this.y[index] * this.scale + this.ty,
    };
  }

  radius() {
    const zoom = this.fitScale ? this.scale / this.fitScale : 1;
    const base = this.n > 4000 ? 1.8 : this.n > 800 ? 2.6 : 4;
    return Math.min(8, Math.max(base, base * Math.sqrt(zoom)));
  }

  // The visible device nearest to a canvas point, within reach; -1 for none.
  hit(px, py) {
    const reach = Math.max(8, this.radius() + 4);
    let best = -1, bestD = reach * reach;
    for (let i = 0; i < this.n; i++) {
      if (!this.visible.has(this.domain[i])) continue;
      const dx = this.x[i] * this.scale + this.tx - px, dy = this.y[i] * this.scale + this.ty - py;
      const d = dx * dx + dy * dy;
      if (d <= bestD) { bestD = d; best = i; }
    }
    return best;
  }

  // -- drawing ------------------------------------------------------------------------------------

  resize() {
    const rect = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width)), h = Math.max(1, Math.round(rect.height));
    if (w === this.width && h === this.height) return;
    const hadView = this.width > 0 && this.fitted;
    const cx = hadView ? (this.width / 2 - this.tx) / this.scale : 0;
    const cy = hadView ? (this.height / 2 - this.ty) / this.scale : 0;
    this.width = w;
    this.height = h;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.dpr = dpr;
    if (hadView) {
      this.tx = w / 2 - cx * this.scale;
      this.ty = h / 2 - cy * this.scale;
    } else {
      this.fit();
    }
    this.draw();
  }

  request() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    const { ctx, scale, tx, ty } = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.lineJoin = 'round';
    ctx.fillStyle = '#eef1f5';
    ctx.strokeStyle = '#9aa5b4';
    ctx.lineWidth = 1;
    for (const d of this.districts) {
      ctx.beginPath();
      for (const ring of d.rings) {
        ring.forEach(([x, y], j) => (j ? ctx.lineTo(x * scale + tx, y * scale + ty) : ctx.moveTo(x * scale + tx, y * scale + ty)));
        ctx.closePath();
      }
      ctx.fill();
      ctx.stroke();
    }
    const r = this.radius();
    let drawn = 0, current = -1;
    const w = this.width, h = this.height;
    ctx.beginPath();
    for (let o = 0; o < this.n; o++) {
      const i = this.order[o];
      if (!this.visible.has(this.domain[i])) continue;
      const sx = this.x[i] * scale + tx, sy = this.y[i] * scale + ty;
      if (sx < -r || sy < -r || sx > w + r || sy > h + r) continue;
      const c = this.colour[i];
      if (c !== current) {
        if (current >= 0) ctx.fill();
        ctx.fillStyle = this.palette[c] || '#888';
        ctx.beginPath();
        current = c;
      }
      if (r < 2.5) {
        ctx.rect(sx - r, sy - r, 2 * r, 2 * r);
      } else {
        ctx.moveTo(sx + r, sy);
        ctx.arc(sx, sy, r, 0, TAU);
      }
      drawn++;
    }
    if (current >= 0) ctx.fill();
    this.drawnMarkers = drawn;
    if (this.districts.length && this.fitScale && scale >= this.fitScale * 0.8) {
      ctx.font = '600 12px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.lineWidth = 3;
      ctx.strokeStyle = 'rgba(255,255,255,0.85)';
      ctx.fillStyle = '#3d4450';
      for (const d of this.districts) {
        if (!d.label) continue;
        const lx = d.label[0] * scale + tx, ly = d.label[1] * scale + ty;
        ctx.strokeText(d.name, lx, ly);
        ctx.fillText(d.name, lx, ly);
      }
    }
    if (this.selected >= 0 && this.selected < this.n) {
      const sx = this.x[this.selected] * scale + tx, sy = this.y[this.selected] * scale + ty;
      ctx.beginPath();
      ctx.arc(sx, sy, r + 5, 0, TAU);
      ctx.lineWidth = 3;
      ctx.strokeStyle = '#111';
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(sx, sy, r + 5, 0, TAU);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
    }
    if (this.onDraw) this.onDraw(drawn);
  }

  // -- input --------------------------------------------------------------------------------------

  local(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  listen() {
    const c = this.canvas;
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const [x, y] = this.local(e);
      this.zoomBy(Math.exp(-e.deltaY * 0.0015), x, y);
    }, { passive: false });
    c.addEventListener('pointerdown', (e) => {
      c.setPointerCapture(e.pointerId);
      this.pointers.set(e.pointerId, this.local(e));
      this.dragged = 0;
    });
    c.addEventListener('pointermove', (e) => {
      const at = this.local(e);
      const was = this.pointers.get(e.pointerId);
      if (!was) {
        this.hover(at);
        return;
      }
      if (this.pointers.size === 2) {
        const [a, b] = [...this.pointers.values()];
        const other = a === was ? b : a;
        const before = Math.hypot(was[0] - other[0], was[1] - other[1]);
        const after = Math.hypot(at[0] - other[0], at[1] - other[1]);
        if (before > 0) this.zoomBy(after / before, (at[0] + other[0]) / 2, (at[1] + other[1]) / 2);
      } else {
        this.panBy(at[0] - was[0], at[1] - was[1]);
      }
      this.dragged += Math.abs(at[0] - was[0]) + Math.abs(at[1] - was[1]);
      this.pointers.set(e.pointerId, at);
    });
    const release = (e) => {
      const was = this.pointers.get(e.pointerId);
      this.pointers.delete(e.pointerId);
      if (was && e.type === 'pointerup' && this.dragged < 5 && this.pointers.size === 0) {
        const [x, y] = this.local(e);
        const index = this.hit(x, y);
        if (index >= 0) this.onSelect(index);
      }
    };
    c.addEventListener('pointerup', release);
    c.addEventListener('pointercancel', release);
    c.addEventListener('pointerleave', () => this.onHover(-1));
    c.addEventListener('keydown', (e) => {
      const step = 60;
      const keys = {
        ArrowLeft: () => this.panBy(step, 0),
        ArrowRight: () => this.panBy(-step, 0),
        ArrowUp: () => this.panBy(0, step),
        ArrowDown: () => this.panBy(0, -step),
        '+': () => this.zoomBy(1.5),
        '=': () => this.zoomBy(1.5),
        '-': () => this.zoomBy(1 / 1.5),
        '0': () => this.fit(),
      };
      if (keys[e.key]) {
        e.preventDefault();
        keys[e.key]();
      }
    });
  }

  hover(at) {
    if (this.hoverFrame) return;
    this.hoverFrame = requestAnimationFrame(() => {
      this.hoverFrame = 0;
      const index = this.hit(at[0], at[1]);
      this.canvas.style.cursor = index >= 0 ? 'pointer' : 'grab';
      this.onHover(index, at);
    });
  }
}
