// Figures: the SVG writer, and PNG through sharp (which renders SVG with librsvg).
import sharp from 'sharp';

export * from './svg';

/** Renders an SVG document to PNG at its own size. */
export async function svgToPng(svg: string): Promise<Buffer> {
  if (typeof svg !== 'string' || !svg.trimStart().startsWith('<svg'))
    throw new TypeError('svgToPng: svg must be an SVG document string');
  return sharp(Buffer.from(svg), { density: 72 }).png().toBuffer();
}
