// Read one tile of a pyramid level the way @carbonplan/maps does, with zarr-js, from local disk.
//
//   node scripts/read_pyramid_tile.js PYRAMID LEVEL VARIABLE ROW COL
//
// Opens the group through its consolidated metadata (.zmetadata), finds the levels and the tile
// size in the root `multiscales` attribute (both places @carbonplan/maps releases look: the
// `datasets` entries, and `metadata.kwargs` for older releases), reads the variable's dimensions
// and fill value, loads chunk (ROW, COL) and prints one JSON object on stdout. Exits 1 with the
// reason on stderr when anything is missing. zarr-js is installed with `npm ci --prefix tools`.
'use strict'

const fs = require('fs/promises')
const path = require('path')
const zarr = require(path.join(__dirname, '..', 'tools', 'node_modules', 'zarr-js'))

const fail = (message) => {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

const pyramidMetadata = (multiscales) => {
  if (!Array.isArray(multiscales) || multiscales.length === 0) {
    fail('no `multiscales` attribute at the root')
  }
  const { datasets, metadata } = multiscales[0]
  if (!Array.isArray(datasets) || datasets.length === 0) fail('`multiscales` has no datasets')
  const levels = datasets.map((dataset) => Number(dataset.path))
  const tileSize = datasets[0].pixels_per_tile
  if (!tileSize) fail('`multiscales` datasets lack pixels_per_tile')
  const kwargs = (metadata || {}).kwargs || {}
  if (kwargs.levels !== levels.length || kwargs.pixels_per_tile !== tileSize) {
    fail('`multiscales[0].metadata.kwargs` disagrees with the datasets (older maps read it)')
  }
  return { levels, maxZoom: Math.max(...levels), tileSize, crs: datasets[0].crs }
}

const main = async () => {
  const [pyramid, level, variable, row, col] = process.argv.slice(2)
  if (col === undefined) fail('usage: read_pyramid_tile.js PYRAMID LEVEL VARIABLE ROW COL')
  const reader = zarr(fs.readFile, 'v2')
  const [loaders, consolidated] = await new Promise((resolve) =>
    reader.openGroup(pyramid, (err, loaders, metadata) => {
      if (err) fail(`openGroup: ${err.message}`)
      resolve([loaders, metadata])
    })
  )
  const meta = consolidated.metadata
  const { levels, maxZoom, tileSize, crs } = pyramidMetadata(meta['.zattrs'].multiscales)
  const key = `${level}/${variable}`
  if (!loaders[key]) fail(`no array ${key} in the consolidated metadata`)
  const zattrs = meta[`${key}/.zattrs`]
  const zarray = meta[`${key}/.zarray`]
  const chunk = await new Promise((resolve) =>
    loaders[key]([Number(row), Number(col)], (err, array) => {
      if (err) fail(`chunk ${row}.${col} of ${key}: ${err.message}`)
      resolve(array)
    })
  )
  process.stdout.write(
    JSON.stringify({
      levels,
      maxZoom,
      tileSize,
      crs,
      dimensions: zattrs._ARRAY_DIMENSIONS,
      fill_value: zarray.fill_value,
      shape: chunk.shape,
      data: Array.from(chunk.data),
    })
  )
}

main().catch((error) => fail(error.stack || String(error)))
