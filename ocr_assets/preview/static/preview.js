// The preview page: a MapLibre map of one environment's outputs, served by `ocr-assets preview`.
// Everything comes from the preview server (config.json, /pmtiles/*, /raster/*, the census state
// outlines /states.geojson): no CDN. A base map is drawn underneath only when the server was
// given a style URL (--base-map). The map object is window.map; window.previewReady turns true
// once it has loaded.
"use strict";

const TRANSPARENT = "rgba(0, 0, 0, 0)";
const FALLBACK_BOUNDS = [-125, 24, -66, 50]; // CONUS, when no output tells its extent

// A MapLibre expression colouring `value` by risk class: 0 exactly, then upper-inclusive bins.
function classColour(value, classes) {
  const expression = ["case", ["<", value, 0], TRANSPARENT, ["==", value, 0], classes.colours[0]];
  classes.edges.forEach((edge, index) => {
    expression.push(["<=", value, edge], classes.colours[index + 1]);
  });
  expression.push(TRANSPARENT);
  return expression;
}

function numberProperty(key) {
  return ["to-number", ["get", key], -1];
}

function el(tag, attributes = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function formatNumber(value) {
  if (value === undefined || value === null || Number.isNaN(Number(value))) return "–";
  const number = Number(value);
  return Number.isInteger(number) ? number.toLocaleString("en-US") : number.toPrecision(4);
}

// Histograms may arrive as arrays or as JSON text (tippecanoe stores arrays as strings).
function histogram(value) {
  if (Array.isArray(value)) return value.map(Number);
  if (typeof value === "string") return JSON.parse(value).map(Number);
  return null;
}

function bounds(value) {
  const parts = (Array.isArray(value) ? value : String(value).split(",")).map(Number);
  return parts.length === 4 && parts.every(Number.isFinite) ? parts : null;
}

function hashBounds() {
  const match = window.location.hash.match(/bounds=([^&]+)/);
  return match ? bounds(decodeURIComponent(match[1])) : null;
}

function showMissing(config) {
  const main = document.getElementById("missing");
  main.hidden = false;
  main.append(el("h1", {}, `No outputs to show for ${config.scope} yet`));
  main.append(el("p", {}, "The preview draws these outputs; none of them exists:"));
  const list = el("ul");
  for (const output of Object.values(config.outputs)) {
    const item = el("li", { "data-missing": output.name });
    item.append(el("strong", {}, output.asset), " at ", el("code", {}, output.location));
    item.append(el("br"), `To make it: ${output.how}.`);
    list.append(item);
  }
  main.append(list);
  main.append(el("p", {}, "Reload this page once they are written."));
  document.getElementById("controls").hidden = true;
}

function showNotice(config, missing, extra = []) {
  const notice = document.getElementById("notice");
  const lines = missing.map((o) => `${o.asset} is missing (${o.location}): ${o.how}.`);
  lines.push(...config.problems, ...extra);
  if (!lines.length) return;
  notice.hidden = false;
  for (const line of lines) notice.append(el("p", {}, line));
}

function drawLegend(classes) {
  const legend = document.getElementById("legend");
  legend.append(el("h3", {}, "Risk score (RPS bins)"));
  classes.labels.forEach((label, index) => {
    const row = el("div", { class: "row", "data-class": String(index) });
    row.append(el("span", { class: "swatch", style: `background:${classes.colours[index]}` }));
    row.append(el("span", {}, `${index}: ${label}`));
    legend.append(row);
  });
}

function histogramChart(counts, colours, field) {
  const ns = "http://www.w3.org/2000/svg";
  const width = 250;
  const height = 70;
  const bar = width / counts.length;
  const top = Math.max(1, ...counts);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "histogram");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height + 12);
  svg.setAttribute("data-field", field);
  svg.setAttribute("data-value", JSON.stringify(counts));
  counts.forEach((count, index) => {
    const rect = document.createElementNS(ns, "rect");
    const h = (count / top) * height;
    rect.setAttribute("class", "bar");
    rect.setAttribute("x", index * bar + 1);
    rect.setAttribute("y", height - h);
    rect.setAttribute("width", bar - 2);
    rect.setAttribute("height", h);
    rect.setAttribute("fill", colours[index]);
    const title = document.createElementNS(ns, "title");
    title.textContent = `score ${index}: ${count}`;
    rect.append(title);
    svg.append(rect);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", index * bar + bar / 2 - 3);
    label.setAttribute("y", height + 10);
    label.textContent = String(index);
    svg.append(label);
  });
  return svg;
}

function valueList(rows) {
  const list = el("dl");
  for (const [field, label, value] of rows) {
    list.append(el("dt", {}, label));
    const dd = el("dd", { "data-field": field }, formatNumber(value));
    if (value !== undefined && value !== null) dd.setAttribute("data-value", String(value));
    list.append(dd);
  }
  return list;
}

function regionPanel(feature, config) {
  const keys = config.regionKeys;
  const p = feature.properties;
  const level = feature.sourceLayer;
  const panel = el("div", { "data-kind": "region", "data-level": level });
  const name = p[keys.NAME] ?? p[keys.STUSPS] ?? p[keys.GEOID];
  panel.append(el("h2", { "data-field": "name" }, String(name)));
  panel.append(el("p", { "data-field": "GEOID", "data-value": String(p[keys.GEOID]) },
    `${level} · GEOID ${p[keys.GEOID]}`));
  const rows = [["building_count", "buildings", p[keys.building_count]]];
  for (const statistic of ["mean", "median"]) {
    for (const year of ["2011", "2047"]) {
      const field = `rps_${year}_${statistic}`;
      rows.push([field, `RPS ${year} ${statistic}`, p[keys[field]]]);
    }
  }
  panel.append(valueList(rows));
  for (const year of ["2011", "2047"]) {
    const field = `risk_score_${year}_hist`;
    const counts = histogram(p[keys[field]]);
    panel.append(el("h3", {}, `Buildings per risk score, ${year}`));
    if (counts) panel.append(histogramChart(counts, config.classes.colours, field));
  }
  return panel;
}

// A building's values: all seven from a footprint, the two RPS (3 decimals) from a centroid.
function buildingPanel(feature, keys, kind) {
  const p = feature.properties;
  const panel = el("div", { "data-kind": kind });
  panel.append(el("h2", {}, kind === "building" ? "Building" : "Building (centroid)"));
  const rows = Object.entries(keys).map(([field, key]) => [field, field, p[key]]);
  panel.append(valueList(rows));
  return panel;
}

function showPanel(content) {
  const panel = document.getElementById("panel");
  panel.replaceChildren(content);
  panel.hidden = false;
}

async function archiveHeader(url) {
  try {
    return await new pmtiles.PMTiles(url).getHeader();
  } catch (error) {
    console.warn(`cannot read ${url}: ${error}`);
    return null;
  }
}

// The base map's style (sources, layers, glyphs, sprite), or null with the reason it is missing.
async function baseStyle(url) {
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return { style: await response.json(), problem: null };
  } catch (error) {
    return { style: null, problem: `base map ${url} not shown: ${error.message}` };
  }
}

async function main() {
  const config = await (await fetch("config.json")).json();
  window.previewConfig = config;
  document.getElementById("scope").textContent = config.scope;
  const outputs = config.outputs;
  const archives = ["regions", "buildings", "building_centroids"].filter((n) => outputs[n].exists);
  if (!archives.length && !config.raster) {
    showMissing(config);
    window.previewReady = true;
    return;
  }
  const basemap = config.baseMap ? await baseStyle(config.baseMap) : { style: null, problem: null };
  showNotice(config, Object.values(outputs).filter((o) => !o.exists), basemap.problem ? [basemap.problem] : []);
  drawLegend(config.classes);

  const protocol = new pmtiles.Protocol();
  maplibregl.addProtocol("pmtiles", protocol.tile);
  const here = new URL(".", window.location.href).href;
  const archiveUrl = (name) => `${here}pmtiles/${name}.pmtiles`;
  const headers = {};
  for (const name of archives) headers[name] = await archiveHeader(archiveUrl(name));
  const extentHeader = headers.regions ?? headers.buildings ?? headers.building_centroids;
  const initialBounds = hashBounds() ?? (extentHeader
    ? [extentHeader.minLon, extentHeader.minLat, extentHeader.maxLon, extentHeader.maxLat]
    : FALLBACK_BOUNDS);
  const buildingMinZoom = headers.buildings ? headers.buildings.minZoom : 6;

  const state = { year: "2011", statistic: "mean" };
  const base = basemap.style;
  const sources = { ...(base?.sources ?? {}) };
  const layers = base
    ? [...base.layers]
    : [{ id: "background", type: "background", paint: { "background-color": "#f4f1ea" } }];
  const regionFills = [];
  const buildingLayers = [];
  const regionColour = () =>
    classColour(numberProperty(config.regionKeys[`rps_${state.year}_${state.statistic}`]), config.classes);
  const buildingColour = () => classColour(numberProperty(config.buildingKeys[`rps_${state.year}`]), config.classes);
  const centroidColour = () => classColour(numberProperty(config.centroidKeys[`rps_${state.year}`]), config.classes);
  const rasterTiles = () => [`${here}raster/rps_${state.year}/{z}/{x}/{y}.png`];

  if (outputs.regions.exists) {
    sources.regions = { type: "vector", url: `pmtiles://${archiveUrl("regions")}` };
    for (const [level, [minzoom, maxzoom]] of Object.entries(config.levelZooms)) {
      const common = { source: "regions", "source-layer": level, minzoom, maxzoom };
      layers.push({ id: `regions-${level}`, type: "fill", ...common,
        paint: { "fill-color": regionColour(), "fill-opacity": 0.75 } });
      regionFills.push(`regions-${level}`);
    }
  }
  if (config.raster) {
    sources.raster = { type: "raster", tiles: rasterTiles(), tileSize: 256, maxzoom: config.raster.maxZoom };
    // Off at first (it would hide the choropleth); the "raster" checkbox shows it.
    layers.push({ id: "risk-raster", type: "raster", source: "raster", layout: { visibility: "none" },
      paint: { "raster-opacity": 0.8, "raster-resampling": "nearest" } });
  }
  if (outputs.regions.exists) {
    for (const [level, [minzoom, maxzoom]] of Object.entries(config.levelZooms)) {
      layers.push({ id: `outline-${level}`, type: "line", source: "regions", "source-layer": level,
        minzoom, maxzoom, paint: { "line-color": "#4a4a4a", "line-width": 0.7 } });
    }
  }
  if (config.states) {
    // The census state outlines: a light reference layer over the statistics, under buildings.
    sources.states = { type: "geojson", data: `${here}states.geojson` };
    layers.push({ id: "states", type: "line", source: "states",
      paint: { "line-color": "#5c5c5c", "line-width": 1.2, "line-opacity": 0.7 } });
  }
  if (outputs.building_centroids.exists) {
    sources.building_centroids = { type: "vector", url: `pmtiles://${archiveUrl("building_centroids")}` };
    layers.push({ id: "building-centroids", type: "circle", source: "building_centroids",
      "source-layer": config.buildingLayer, maxzoom: buildingMinZoom,
      paint: { "circle-color": centroidColour(), "circle-radius": ["interpolate", ["linear"], ["zoom"], 0, 1.5, 6, 3] } });
    buildingLayers.push("building-centroids");
  }
  if (outputs.buildings.exists) {
    sources.buildings = { type: "vector", url: `pmtiles://${archiveUrl("buildings")}` };
    layers.push({ id: "buildings", type: "fill", source: "buildings", "source-layer": config.buildingLayer,
      minzoom: buildingMinZoom, paint: { "fill-color": buildingColour(), "fill-outline-color": "#333" } });
    buildingLayers.push("buildings");
  }

  const style = { ...(base ?? {}), version: 8, sources, layers };
  const map = new maplibregl.Map({
    container: "map",
    style,
    bounds: initialBounds,
    fitBoundsOptions: { padding: 40 },
    // A base map's sources carry their attribution (OpenStreetMap's licence requires it).
    attributionControl: base ? { compact: true } : false,
  });
  window.map = map;
  map.addControl(new maplibregl.NavigationControl(), "bottom-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-left");

  const zoomLabel = document.getElementById("zoom-level");
  const showZoom = () => {
    const zoom = map.getZoom();
    const level = Object.entries(config.levelZooms).find(([, [lo, hi]]) => zoom >= lo && zoom < hi);
    zoomLabel.textContent = `zoom ${zoom.toFixed(1)}${level ? `: ${level[0]}` : ""}`;
  };
  map.on("zoom", showZoom);
  showZoom();

  const restyle = () => {
    for (const id of regionFills) map.setPaintProperty(id, "fill-color", regionColour());
    if (map.getLayer("buildings")) map.setPaintProperty("buildings", "fill-color", buildingColour());
    if (map.getLayer("building-centroids")) map.setPaintProperty("building-centroids", "circle-color", centroidColour());
    if (map.getSource("raster")) map.getSource("raster").setTiles(rasterTiles());
  };
  document.getElementById("year").addEventListener("change", (event) => {
    state.year = event.target.value;
    restyle();
  });
  document.getElementById("statistic").addEventListener("change", (event) => {
    state.statistic = event.target.value;
    restyle();
  });
  const toggle = (checkbox, ids) => {
    document.getElementById(checkbox).addEventListener("change", (event) => {
      const visibility = event.target.checked ? "visible" : "none";
      for (const id of ids) if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", visibility);
    });
  };
  toggle("show-regions", regionFills);
  toggle("show-buildings", buildingLayers);
  toggle("show-raster", ["risk-raster"]);
  toggle("show-states", ["states"]);
  document.getElementById("raster-opacity").addEventListener("input", (event) => {
    if (map.getLayer("risk-raster")) map.setPaintProperty("risk-raster", "raster-opacity", Number(event.target.value));
  });

  map.on("click", (event) => {
    const clickable = [...buildingLayers, ...regionFills].filter((id) => map.getLayer(id));
    const features = map.queryRenderedFeatures(event.point, { layers: clickable });
    const building = features.find((f) => f.layer.id === "buildings");
    const centroid = features.find((f) => f.layer.id === "building-centroids");
    const region = features.find((f) => regionFills.includes(f.layer.id));
    if (building) showPanel(buildingPanel(building, config.buildingKeys, "building"));
    else if (centroid) showPanel(buildingPanel(centroid, config.centroidKeys, "centroid"));
    else if (region) showPanel(regionPanel(region, config));
  });
  for (const id of [...regionFills, ...buildingLayers]) {
    map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
  }
  window.addEventListener("hashchange", () => {
    const requested = hashBounds();
    if (requested) map.fitBounds(requested, { padding: 40 });
  });
  map.on("load", () => { window.previewReady = true; });
}

main().catch((error) => {
  console.error(error);
  const main = document.getElementById("missing");
  main.hidden = false;
  main.textContent = `The preview failed: ${error}`;
});
