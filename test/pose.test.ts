import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimatePose, projectMeanFace } from '../src/core/pose.js';
import type { Landmarks5 } from '../src/core/types.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) < tol, `${what}: ${a.toFixed(2)} vs ${b}`);

test('recovers yaw, pitch and roll of a projected mean face', () => {
  for (const pose of [{ yawDeg: 0, pitchDeg: 0, rollDeg: 0 }, { yawDeg: 30, pitchDeg: -10, rollDeg: 15 }, { yawDeg: -45, pitchDeg: 20, rollDeg: -25 }]) {
    const got = estimatePose(projectMeanFace(pose, 2.5, { x: 300, y: 200 }));
    close(got.yawDeg, pose.yawDeg, 0.5, 'yaw');
    close(got.pitchDeg, pose.pitchDeg, 0.5, 'pitch');
    close(got.rollDeg, pose.rollDeg, 0.5, 'roll');
  }
});

test('yaw grows monotonically on a synthetic turn', () => {
  let last = -Infinity;
  for (let yaw = -60; yaw <= 60; yaw += 10) {
    const y = estimatePose(projectMeanFace({ yawDeg: yaw, pitchDeg: 5, rollDeg: 0 }, 3)).yawDeg;
    assert.ok(y > last, `yaw ${yaw}: ${y}`);
    last = y;
  }
});

test('mirroring flips yaw and roll and keeps pitch', () => {
  const lm = projectMeanFace({ yawDeg: 25, pitchDeg: 10, rollDeg: 8 }, 2, { x: 400, y: 300 });
  const W = 800;
  const m = (p: { x: number; y: number }) => ({ x: W - p.x, y: p.y });
  // In the mirror the image-left eye is the old image-right one.
  const mirrored: Landmarks5 = { rightEye: m(lm.leftEye), leftEye: m(lm.rightEye), nose: m(lm.nose), rightMouth: m(lm.leftMouth), leftMouth: m(lm.rightMouth) };
  const a = estimatePose(lm);
  const b = estimatePose(mirrored);
  close(b.yawDeg, -a.yawDeg, 0.01, 'yaw');
  close(b.rollDeg, -a.rollDeg, 0.01, 'roll');
  close(b.pitchDeg, a.pitchDeg, 0.01, 'pitch');
});

test('roll agrees with the eye line on in-plane rotations', () => {
  for (const roll of [-25, -10, 10, 25]) {
    const lm = projectMeanFace({ yawDeg: 0, pitchDeg: 0, rollDeg: roll }, 2);
    const eye = (Math.atan2(lm.leftEye.y - lm.rightEye.y, lm.leftEye.x - lm.rightEye.x) * 180) / Math.PI;
    close(estimatePose(lm).rollDeg, eye, 2, 'roll vs eye line');
  }
});
