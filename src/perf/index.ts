// Performance against the machine's own limits: the yardstick (machinePeak) and the profiler.
export { machinePeak, machinePeakTable, machineLine, cacheDir } from './machine';
export type { MachinePeak, MachinePeakOptions } from './machine';
export { profile, formatProfile, OUTSIDE_NATIVE } from './profile';
export type { ProfileResult, ProfileRow } from './profile';
export { flopsOf, tapsInside } from './flops';
export type { Flops } from './flops';
