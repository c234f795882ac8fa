/* The explorer's script: unpacks the page's data, draws every view and links them.

   Pictures are drawn into canvases one canvas pixel per image pixel (or per code cell), enlarged
   by the style sheet; outlines and cursors are drawn on overlay canvases at the screen's own
   resolution. A value t in [0, 1] is coloured with entry min(floor(t * n), n - 1) of an n-entry
   lookup table, as matplotlib's colormaps do, so that the page's colours can be checked against
   matplotlib's. The state (cursor pixel, selected cell, settings) lives in one object, and every
   change redraws what depends on it, at once. Where the micrograph's pixel size is known, every
   picture of it gets a scale bar, whose length the page's data gives, and positions and lengths
   are given in micrometres beside pixels. */
"use strict";

const ARRAY_TYPES = {
  float32: Float32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
};
const PANE_SIDE = 300;
const CHANNEL_SIDE = 96;
const ZOOM_SIDE = 128;
const CURSOR_COLOUR = "rgba(255, 196, 0, 0.95)";
const FIELD_COLOUR = "rgba(0, 200, 90, 0.95)";
const POSITIVE = [214, 39, 40];
const NEGATIVE = [31, 90, 220];

/* Decodes one packed array: base64 text of zlib-compressed little-endian values. */
async function unpack(packed) {
  const text = atob(packed.data);
  const bytes = new Uint8Array(text.length);
  for (let k = 0; k < text.length; k += 1) bytes[k] = text.charCodeAt(k);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  const buffer = await new Response(stream).arrayBuffer();
  return new ARRAY_TYPES[packed.dtype](buffer);
}

async function unpackAll(packedByName) {
  const names = Object.keys(packedByName);
  const arrays = await Promise.all(names.map((name) => unpack(packedByName[name])));
  return Object.fromEntries(names.map((name, k) => [name, arrays[k]]));
}

/* The row of a lookup table that colours t in [0, 1], as matplotlib chooses it. */
function tableRow(t, entries) {
  if (!(t > 0)) return 0;
  return Math.min(entries - 1, Math.floor(t * entries));
}

/* Fills a canvas of width x height pixels, colouring pixel k with colour(k, pixels, 4 * k). */
function paint(canvas, width, height, colour) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let k = 0; k < width * height; k += 1) colour(k, image.data, 4 * k);
  context.putImageData(image, 0, 0);
}

function setColour(pixels, offset, table, row, alpha = 255) {
  pixels[offset] = table[3 * row];
  pixels[offset + 1] = table[3 * row + 1];
  pixels[offset + 2] = table[3 * row + 2];
  pixels[offset + 3] = alpha;
}

function setGrey(pixels, offset, value) {
  const level = Math.round(255 * Math.min(Math.max(value, 0), 1));
  pixels[offset] = level;
  pixels[offset + 1] = level;
  pixels[offset + 2] = level;
  pixels[offset + 3] = 255;
}

/* Where a signed value v lies on a diverging colormap whose ends are -largest and +largest, its
   magnitude raised to gamma: 0.5 is zero. */
function signedPosition(v, largest, gamma) {
  if (!(largest > 0) || v === 0) return 0.5;
  const magnitude = Math.min(Math.abs(v) / largest, 1) ** gamma;
  return 0.5 + 0.5 * Math.sign(v) * magnitude;
}

function format(value) {
  return Number(value).toPrecision(6);
}

/* A length in micrometres, to four significant digits. */
function formatMicrometres(value) {
  return `${Number(Number(value).toPrecision(4))} µm`;
}

/* An overlay canvas the size of its box on screen, in device pixels, cleared. */
function overlayContext(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * ratio);
  const height = Math.round(canvas.clientHeight * ratio);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, width, height);
  return context;
}

/* The image pixel, or code cell, under a mouse event over an element showing rows x columns. */
function pointed(event, element, rows, columns) {
  const box = element.getBoundingClientRect();
  const row = Math.floor(((event.clientY - box.top) / box.height) * rows);
  const column = Math.floor(((event.clientX - box.left) / box.width) * columns);
  return [Math.min(Math.max(row, 0), rows - 1), Math.min(Math.max(column, 0), columns - 1)];
}

class Explorer {
  constructor(data, arrays, colormaps) {
    this.data = data;
    this.arrays = arrays;
    this.colormaps = colormaps;
    this.height = data.height;
    this.width = data.width;
    this.rows = data.rows;
    this.columns = data.columns;
    this.channels = data.channels;
    [this.windowHeight, this.windowWidth] = data.window;
    this.largestInteger = 2 ** (data.bits - 1) - 1;
    this.pixelSize = data.pixelSize;
    this.scaled =
      data.heatmap.range === null
        ? this.scaleToUnit(arrays.attribution)
        : this.scaleToRange(arrays.attribution, data.heatmap.range);
    this.error = arrays.reconstruction.map((value, k) => value - arrays.micrograph[k]);
    this.state = {
      y: Math.floor(this.height / 2),
      x: Math.floor(this.width / 2),
      cell: null,
      cmap: data.heatmap.cmap,
      vmin: data.heatmap.vmin,
      vmax: data.heatmap.vmax,
      gamma: 1,
      smoothed: true,
      rowGamma: 1,
      opacity: 0.8,
      zoom: 64,
    };
    this.column = new Float64Array(this.rows * this.columns * this.channels);
    this.row = new Float64Array(this.height * this.width);
  }

  scaleToUnit(values) {
    let low = Infinity;
    let high = -Infinity;
    for (const value of values) {
      low = Math.min(low, value);
      high = Math.max(high, value);
    }
    return Float64Array.from(values, (value) => (high > low ? (value - low) / (high - low) : 0));
  }

  /* Values scaled by a range shared by the pages of a run, as stage 3's --scale folder does. */
  scaleToRange(values, [low, high]) {
    const span = high > low ? high - low : 1;
    return Float64Array.from(values, (value) => Math.min(Math.max((value - low) / span, 0), 1));
  }

  /* "(a, b)" pixels, followed by the same in micrometres where the pixel size is known. */
  position(y, x) {
    const pixels = `(${y}, ${x})`;
    if (this.pixelSize === null) return pixels;
    const [yUm, xUm] = [y, x].map((value) => Number((value * this.pixelSize).toPrecision(4)));
    return `${pixels}; (${yUm}, ${xUm}) µm`;
  }

  /* " (a × b µm)" for a window of rows x columns pixels, or nothing without a pixel size. */
  extent(rows, columns) {
    if (this.pixelSize === null) return "";
    const [height, width] = [rows, columns].map((value) =>
      Number((value * this.pixelSize).toPrecision(4)),
    );
    return ` (${height} × ${width} µm)`;
  }

  /* Index of code cell (channel, row i, column j) in arrays laid out (rows, columns, channels). */
  cellIndex(channel, i, j) {
    return (i * this.columns + j) * this.channels + channel;
  }

  /* The derivative of code cell (channel, i, j) with respect to pixel (y, x). */
  derivative(channel, i, j, y, x) {
    const u = y - this.data.rowStarts[i];
    const v = x - this.data.columnStarts[j];
    if (u < 0 || u >= this.windowHeight || v < 0 || v >= this.windowWidth) return 0;
    const cell = this.cellIndex(channel, i, j);
    const window = this.windowHeight * this.windowWidth;
    const integer = this.arrays.jacobian[cell * window + u * this.windowWidth + v];
    return (integer * this.arrays.scales[cell]) / this.largestInteger;
  }

  /* Column (y, x) of the Jacobian: how every code cell changes with the pixel. */
  computeColumn() {
    const { y, x } = this.state;
    this.column.fill(0);
    for (let i = 0; i < this.rows; i += 1) {
      const u = y - this.data.rowStarts[i];
      if (u < 0 || u >= this.windowHeight) continue;
      for (let j = 0; j < this.columns; j += 1) {
        const v = x - this.data.columnStarts[j];
        if (v < 0 || v >= this.windowWidth) continue;
        for (let channel = 0; channel < this.channels; channel += 1) {
          this.column[this.cellIndex(channel, i, j)] = this.derivative(channel, i, j, y, x);
        }
      }
    }
  }

  /* Row of the selected cell: how it changes with every pixel, zero outside its window. */
  computeRow() {
    this.row.fill(0);
    if (this.state.cell === null) return;
    const { channel, i, j } = this.state.cell;
    const top = this.data.rowStarts[i];
    const left = this.data.columnStarts[j];
    const bottom = Math.min(top + this.windowHeight, this.height);
    const right = Math.min(left + this.windowWidth, this.width);
    for (let y = Math.max(top, 0); y < bottom; y += 1) {
      for (let x = Math.max(left, 0); x < right; x += 1) {
        this.row[y * this.width + x] = this.derivative(channel, i, j, y, x);
      }
    }
  }

  /* The code cell the cursor pixel drives most, or null if it drives none. */
  strongestCell() {
    let best = -1;
    let largest = 0;
    this.column.forEach((value, index) => {
      if (Math.abs(value) > largest) {
        largest = Math.abs(value);
        best = index;
      }
    });
    if (best < 0) return null;
    const channel = best % this.channels;
    const cell = (best - channel) / this.channels;
    return { channel, i: Math.floor(cell / this.columns), j: cell % this.columns };
  }

  build() {
    const pictures = document.querySelectorAll(".stack.picture");
    const paneScale = PANE_SIDE / Math.max(this.height, this.width);
    for (const stack of pictures) {
      stack.style.width = `${Math.round(this.width * paneScale)}px`;
      stack.style.height = `${Math.round(this.height * paneScale)}px`;
      stack.addEventListener("mousemove", (event) => {
        const [y, x] = pointed(event, stack, this.height, this.width);
        this.moveTo(y, x);
      });
      stack.addEventListener("click", (event) => {
        const [y, x] = pointed(event, stack, this.height, this.width);
        this.moveTo(y, x);
        this.selectStrongest();
      });
    }
    const cellScale = CHANNEL_SIDE / Math.max(this.rows, this.columns);
    const holder = document.getElementById("channels");
    this.channelViews = [];
    for (let channel = 0; channel < this.channels; channel += 1) {
      const figure = document.createElement("figure");
      figure.className = "pane channel";
      const stack = document.createElement("div");
      stack.className = "stack";
      stack.id = `channel-${channel}`;
      stack.style.width = `${Math.round(this.columns * cellScale)}px`;
      stack.style.height = `${Math.round(this.rows * cellScale)}px`;
      const views = {};
      for (const kind of ["base", "layer", "overlay"]) {
        const canvas = document.createElement("canvas");
        canvas.className = kind;
        stack.appendChild(canvas);
        views[kind] = canvas;
      }
      views.layer.id = `column-${channel}`;
      stack.addEventListener("click", (event) => {
        const [i, j] = pointed(event, stack, this.rows, this.columns);
        this.select(channel, i, j);
      });
      const caption = document.createElement("figcaption");
      // A channel that is zero at every cell carries nothing of this micrograph: its Jacobian
      // rows are zero too, which a reader would otherwise take for a broken page.
      caption.textContent = this.data.zeroChannels.includes(channel)
        ? `channel ${channel}: zero on this micrograph`
        : `channel ${channel}`;
      figure.append(stack, caption);
      holder.appendChild(figure);
      this.channelViews.push(views);
    }
    for (const canvas of document.querySelectorAll(".zooms canvas")) {
      canvas.style.width = `${ZOOM_SIDE}px`;
      canvas.style.height = `${ZOOM_SIDE}px`;
    }
    this.bindControls();
    this.describe();
    document.addEventListener("keydown", (event) => this.onKey(event));
  }

  bindControls() {
    const select = document.getElementById("cmap");
    for (const name of Object.keys(this.colormaps)) select.add(new Option(name, name));
    select.value = this.state.cmap;
    document.getElementById("smoothed").checked = this.state.smoothed;
    document.getElementById("sigma").textContent = this.data.heatmap.sigma;
    document.getElementById("attribution-label").textContent = this.data.attributionLabel;
    document.getElementById("vmin").value = this.state.vmin;
    document.getElementById("vmax").value = this.state.vmax;
    document.getElementById("opacity").value = this.state.opacity;
    document.getElementById("zoom-size").value = String(this.state.zoom);
    const heatmapSettings = () => {
      this.state.cmap = select.value;
      this.state.smoothed = document.getElementById("smoothed").checked;
      this.state.vmin = Number(document.getElementById("vmin").value);
      this.state.vmax = Number(document.getElementById("vmax").value);
      this.state.gamma = 2 ** Number(document.getElementById("gamma").value);
      this.drawHeatmap();
      this.drawOverlays();
    };
    for (const id of ["cmap", "smoothed", "vmin", "vmax", "gamma"]) {
      document.getElementById(id).addEventListener("input", heatmapSettings);
    }
    document.getElementById("row-gamma").addEventListener("input", (event) => {
      this.state.rowGamma = 2 ** Number(event.target.value);
      this.drawRow();
      this.drawColumn();
      this.drawOverlays();
    });
    document.getElementById("opacity").addEventListener("input", (event) => {
      this.state.opacity = Number(event.target.value);
      this.drawRow();
    });
    document.getElementById("zoom-size").addEventListener("input", (event) => {
      this.state.zoom = Number(event.target.value);
      this.drawOverlays();
    });
  }

  describe() {
    const { data } = this;
    const code = `${data.rows}×${data.columns}×${data.channels}`;
    document.getElementById("title").textContent = data.name;
    document.getElementById("code-title").textContent =
      `code: layer '${data.layer}', ${code}, one map per channel (click a cell to select it)`;
    const size =
      this.pixelSize === null
        ? ", its pixel size unknown,"
        : `${this.extent(data.height, data.width)}, pixels of ${formatMicrometres(this.pixelSize)},`;
    document.getElementById("summary").textContent =
      `A ${data.height}×${data.width} micrograph${size} and the ${code} output of layer ` +
      `'${data.layer}'. Every value is exact but for the Jacobian's, which are quantised to ` +
      `${data.bits} bits.` +
      (data.zeroChannels.length === 0
        ? ""
        : ` Channel${data.zeroChannels.length > 1 ? "s" : ""} ${data.zeroChannels.join(", ")} ` +
          `of the ${data.channels} ${data.zeroChannels.length > 1 ? "are" : "is"} zero ` +
          `everywhere on this micrograph: nothing in it moves ` +
          `${data.zeroChannels.length > 1 ? "them" : "it"} off zero.`);
    document.getElementById("quantisation").textContent =
      `Jacobian values: the exact complex-step Jacobian, stored as one window of ` +
      `${data.window[0]}×${data.window[1]} pixels per code cell (its receptive field) and ` +
      `quantised to ${data.bits} bits per value: each cell's values are scaled by their largest ` +
      `magnitude, so each is within 1/${2 * this.largestInteger} of that magnitude. ` +
      `Attribution, activations, micrograph and reconstruction are float32.`;
    let top = -Infinity;
    for (const value of this.arrays.activations) top = Math.max(top, value);
    document.getElementById("activation-top").textContent = format(top);
  }

  onKey(event) {
    const tag = event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT") return;
    const step = event.shiftKey ? 8 : 1;
    const moves = {
      ArrowUp: [-step, 0],
      ArrowDown: [step, 0],
      ArrowLeft: [0, -step],
      ArrowRight: [0, step],
    };
    if (event.key in moves) {
      const [dy, dx] = moves[event.key];
      this.moveTo(this.state.y + dy, this.state.x + dx);
      event.preventDefault();
    } else if (event.key === "Enter") {
      this.selectStrongest();
      event.preventDefault();
    }
  }

  moveTo(y, x) {
    this.state.y = Math.min(Math.max(y, 0), this.height - 1);
    this.state.x = Math.min(Math.max(x, 0), this.width - 1);
    this.computeColumn();
    this.drawColumn();
    this.drawOverlays();
    this.readOut();
  }

  select(channel, i, j) {
    this.state.cell = { channel, i, j };
    this.computeRow();
    this.drawRow();
    this.drawOverlays();
    this.readOut();
  }

  selectStrongest() {
    const cell = this.strongestCell();
    if (cell !== null) this.select(cell.channel, cell.i, cell.j);
  }

  drawStatic() {
    const { micrograph, reconstruction, activations } = this.arrays;
    const { height, width } = this;
    for (const id of ["micrograph", "sensitivity-micrograph"]) {
      paint(document.getElementById(id), width, height, (k, pixels, offset) =>
        setGrey(pixels, offset, micrograph[k]),
      );
    }
    paint(document.getElementById("reconstruction"), width, height, (k, pixels, offset) =>
      setGrey(pixels, offset, reconstruction[k]),
    );
    let largestError = 0;
    for (const value of this.error) largestError = Math.max(largestError, Math.abs(value));
    const signed = this.colormaps[this.data.signedCmap];
    const entries = signed.length / 3;
    paint(document.getElementById("error"), width, height, (k, pixels, offset) => {
      const position = signedPosition(this.error[k], largestError, 1);
      setColour(pixels, offset, signed, tableRow(position, entries));
    });
    document.getElementById("error-caption").textContent =
      `error: reconstruction − micrograph, ${this.data.signedCmap} from ` +
      `−${format(largestError)} to +${format(largestError)}`;
    let low = 0;
    let high = -Infinity;
    for (const value of activations) {
      low = Math.min(low, value);
      high = Math.max(high, value);
    }
    if (!(high > low)) high = low + 1;
    this.channelViews.forEach((views, channel) => {
      paint(views.base, this.columns, this.rows, (k, pixels, offset) =>
        setGrey(pixels, offset, (activations[k * this.channels + channel] - low) / (high - low)),
      );
    });
  }

  drawHeatmap() {
    const { cmap, vmin, vmax, gamma, smoothed } = this.state;
    const table = this.colormaps[cmap];
    const entries = table.length / 3;
    const values = smoothed ? this.arrays.smoothed : this.scaled;
    const span = vmax > vmin ? vmax - vmin : Number.EPSILON;
    paint(document.getElementById("heatmap"), this.width, this.height, (k, pixels, offset) => {
      const t = Math.min(Math.max((values[k] - vmin) / span, 0), 1) ** gamma;
      setColour(pixels, offset, table, tableRow(t, entries));
    });
    document.getElementById("vmin-value").textContent = vmin.toFixed(2);
    document.getElementById("vmax-value").textContent = vmax.toFixed(2);
    document.getElementById("gamma-value").textContent = gamma.toFixed(2);
    const { scaleLabel, range, kind } = this.data.heatmap;
    const scale =
      range === null ? scaleLabel : `${scaleLabel}, raw ${format(range[0])} to ${format(range[1])}`;
    document.getElementById("heatmap-caption").textContent =
      `attribution heatmap (${scale}): ${smoothed ? "scaled and smoothed" : "scaled"}, ${cmap} ` +
      `from ${vmin.toFixed(2)} to ${vmax.toFixed(2)}; the ${kind} map`;
  }

  /* The cursor pixel's Jacobian column over the channel maps: colour by sign, opacity by size. */
  drawColumn() {
    let largest = 0;
    for (const value of this.column) largest = Math.max(largest, Math.abs(value));
    const gamma = this.state.rowGamma;
    this.channelViews.forEach((views, channel) => {
      paint(views.layer, this.columns, this.rows, (k, pixels, offset) => {
        const value = this.column[k * this.channels + channel];
        const colour = value >= 0 ? POSITIVE : NEGATIVE;
        pixels.set(colour, offset);
        const size = largest > 0 ? (Math.abs(value) / largest) ** gamma : 0;
        pixels[offset + 3] = Math.round(255 * size);
      });
    });
    const driven = this.column.reduce((count, value) => count + (value !== 0 ? 1 : 0), 0);
    document.getElementById("driven").textContent =
      `${driven} of ${this.column.length}; largest |∂cell/∂pixel| ${format(largest)}`;
    document.getElementById("row-gamma-value").textContent = gamma.toFixed(2);
  }

  drawRow() {
    const canvas = document.getElementById("row-map");
    const table = this.colormaps[this.data.signedCmap];
    const entries = table.length / 3;
    const cell = this.state.cell;
    const largest =
      cell === null ? 0 : this.arrays.scales[this.cellIndex(cell.channel, cell.i, cell.j)];
    const gamma = this.state.rowGamma;
    paint(canvas, this.width, this.height, (k, pixels, offset) => {
      const position = signedPosition(this.row[k], largest, gamma);
      setColour(pixels, offset, table, tableRow(position, entries));
    });
    canvas.style.opacity = cell === null ? 0 : this.state.opacity;
    document.getElementById("opacity-value").textContent = this.state.opacity.toFixed(2);
    document.getElementById("row-caption").textContent =
      cell === null
        ? "sensitivity of the selected cell: none selected"
        : `sensitivity of cell (${cell.channel}, ${cell.i}, ${cell.j}) to every pixel, its ` +
          `Jacobian row: ${this.data.signedCmap} from −${format(largest)} to +${format(largest)}`;
  }

  /* The selected cell's receptive field, in pixels: [top, bottom, left, right], inclusive. */
  field() {
    const { cell } = this.state;
    if (cell === null) return null;
    const { rowFields, columnFields } = this.data;
    const [top, bottom] = [rowFields[0][cell.i], rowFields[1][cell.i]];
    const [left, right] = [columnFields[0][cell.j], columnFields[1][cell.j]];
    return [top, bottom, left, right];
  }

  drawOverlays() {
    const { y, x } = this.state;
    const field = this.field();
    for (const stack of document.querySelectorAll(".stack.picture")) {
      const canvas = stack.querySelector(".overlay");
      const context = overlayContext(canvas);
      const scaleY = canvas.height / this.height;
      const scaleX = canvas.width / this.width;
      if (field !== null) {
        context.strokeStyle = FIELD_COLOUR;
        context.lineWidth = 2;
        context.setLineDash([6, 4]);
        context.strokeRect(
          field[2] * scaleX,
          field[0] * scaleY,
          (field[3] - field[2] + 1) * scaleX,
          (field[1] - field[0] + 1) * scaleY,
        );
        context.setLineDash([]);
      }
      this.drawCursor(context, (y + 0.5) * scaleY, (x + 0.5) * scaleX, Math.max(scaleY, scaleX));
      this.drawScaleBar(context, scaleX);
    }
    const cell = this.state.cell;
    this.channelViews.forEach((views, channel) => {
      const context = overlayContext(views.overlay);
      if (cell === null || cell.channel !== channel) return;
      const scaleY = views.overlay.height / this.rows;
      const scaleX = views.overlay.width / this.columns;
      context.strokeStyle = FIELD_COLOUR;
      context.lineWidth = 2;
      context.strokeRect(cell.j * scaleX + 1, cell.i * scaleY + 1, scaleX - 2, scaleY - 2);
    });
    this.drawZooms(field);
  }

  /* The scale bar in the lower right corner, its length in image pixels times scaleX, on a dark
     edge so that it shows over light pictures too. */
  drawScaleBar(context, scaleX) {
    const bar = this.data.scaleBar;
    if (bar === null) return;
    const { width, height } = context.canvas;
    const ratio = window.devicePixelRatio || 1;
    const length = Math.round(bar.pixels * scaleX);
    const thickness = Math.max(2, Math.round(height * bar.thickness));
    const margin = Math.round(8 * ratio);
    const left = width - margin - length;
    const top = height - margin - thickness;
    context.fillStyle = "rgba(0, 0, 0, 0.6)";
    context.fillRect(left - 1, top - 1, length + 2, thickness + 2);
    context.fillStyle = bar.colour;
    context.fillRect(left, top, length, thickness);
    context.font = `${Math.round(12 * ratio)}px system-ui, sans-serif`;
    context.textAlign = "center";
    context.textBaseline = "bottom";
    context.lineWidth = 3;
    context.strokeStyle = "rgba(0, 0, 0, 0.6)";
    context.strokeText(bar.label, left + length / 2, top - 3 * ratio);
    context.fillText(bar.label, left + length / 2, top - 3 * ratio);
  }

  drawCursor(context, centreY, centreX, pixelSide) {
    const half = Math.max(pixelSide / 2, 3);
    context.strokeStyle = CURSOR_COLOUR;
    context.lineWidth = 1;
    context.beginPath();
    context.moveTo(0, centreY);
    context.lineTo(centreX - 2 * half, centreY);
    context.moveTo(centreX + 2 * half, centreY);
    context.lineTo(context.canvas.width, centreY);
    context.moveTo(centreX, 0);
    context.lineTo(centreX, centreY - 2 * half);
    context.moveTo(centreX, centreY + 2 * half);
    context.lineTo(centreX, context.canvas.height);
    context.stroke();
    context.lineWidth = 2;
    context.strokeRect(centreX - half, centreY - half, 2 * half, 2 * half);
  }

  /* Each zoom canvas shows the window of `zoom` pixels around the cursor, enlarged. */
  drawZooms(field) {
    const { y, x, zoom } = this.state;
    const top = y - Math.floor(zoom / 2);
    const left = x - Math.floor(zoom / 2);
    const sources = {
      "zoom-micrograph": document.getElementById("micrograph"),
      "zoom-heatmap": document.getElementById("heatmap"),
      "zoom-row": document.getElementById("row-map"),
    };
    for (const [id, source] of Object.entries(sources)) {
      const canvas = document.getElementById(id);
      const context = overlayContext(canvas);
      const scale = canvas.width / zoom;
      context.imageSmoothingEnabled = false;
      context.fillStyle = "#e8e8e8";
      context.fillRect(0, 0, canvas.width, canvas.height);
      // Only the part of the window inside the image is copied, so that no browser has to
      // decide what lies beyond a source canvas's edge.
      const fromY = Math.max(top, 0);
      const fromX = Math.max(left, 0);
      const toY = Math.min(top + zoom, this.height);
      const toX = Math.min(left + zoom, this.width);
      if (id !== "zoom-row" || this.state.cell !== null) {
        context.drawImage(
          source,
          fromX,
          fromY,
          toX - fromX,
          toY - fromY,
          (fromX - left) * scale,
          (fromY - top) * scale,
          (toX - fromX) * scale,
          (toY - fromY) * scale,
        );
      }
      if (field !== null) {
        context.strokeStyle = FIELD_COLOUR;
        context.lineWidth = 2;
        context.setLineDash([6, 4]);
        context.strokeRect(
          (field[2] - left) * scale,
          (field[0] - top) * scale,
          (field[3] - field[2] + 1) * scale,
          (field[1] - field[0] + 1) * scale,
        );
        context.setLineDash([]);
      }
      this.drawCursor(context, (y - top + 0.5) * scale, (x - left + 0.5) * scale, scale);
    }
    document.getElementById("zoom-caption").textContent =
      `${zoom}×${zoom} pixels${this.extent(zoom, zoom)} around the cursor: micrograph, ` +
      `heatmap, sensitivity`;
  }

  readOut() {
    const { y, x, cell } = this.state;
    const k = y * this.width + x;
    const { arrays } = this;
    document.getElementById("pixel").textContent = this.position(y, x);
    document.getElementById("micrograph-value").textContent = format(arrays.micrograph[k]);
    document.getElementById("attribution-value").textContent = format(arrays.attribution[k]);
    document.getElementById("scaled-value").textContent = format(this.scaled[k]);
    document.getElementById("reconstruction-value").textContent = format(arrays.reconstruction[k]);
    document.getElementById("error-value").textContent = format(this.error[k]);
    const unset = "none selected";
    if (cell === null) {
      for (const id of ["cell", "activation-value", "field", "row-largest", "derivative-value"]) {
        document.getElementById(id).textContent = unset;
      }
      return;
    }
    const index = this.cellIndex(cell.channel, cell.i, cell.j);
    const field = this.field();
    const largest = arrays.scales[index];
    document.getElementById("cell").textContent = `(${cell.channel}, ${cell.i}, ${cell.j})`;
    document.getElementById("activation-value").textContent = format(arrays.activations[index]);
    document.getElementById("field").textContent =
      `${field[0]}–${field[1]}, ${field[2]}–${field[3]}` +
      this.extent(field[1] - field[0] + 1, field[3] - field[2] + 1);
    document.getElementById("row-largest").textContent =
      largest > 0 ? format(largest) : "0 (a ReLU switched this cell off: no pixel moves it)";
    document.getElementById("derivative-value").textContent = format(
      this.derivative(cell.channel, cell.i, cell.j, y, x),
    );
  }
}

async function start() {
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const [arrays, tables] = await Promise.all([unpackAll(data.arrays), unpackAll(data.colormaps)]);
  const explorer = new Explorer(data, arrays, tables);
  explorer.build();
  explorer.drawStatic();
  explorer.drawHeatmap();
  explorer.moveTo(explorer.state.y, explorer.state.x);
  explorer.selectStrongest();
  explorer.drawRow();
  window.explorer = explorer;
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  document.getElementById("summary").textContent = `This page could not be shown: ${error}`;
  console.error(error);
});
