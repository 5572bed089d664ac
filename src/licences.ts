/** The terms of what facesense ships, in one place: `--help`, `facesense models` and the README say the same. */

/** SPDX expression of the package (package.json "license"). */
export const PACKAGE_SPDX = 'MIT AND Apache-2.0 AND LicenseRef-facesense-research-weights';

/** Short statement of the licences, for help texts. */
export const TERMS = `Licences: the code is MIT (LICENSE). The YuNet detector weights are Apache-2.0
(models/LICENSE-yunet.txt). The trained weights (emotion, age, gender, ethnicity,
glasses, beard, moustache, occlusion) are for research use only: they inherit the terms of their training
data (FER2013, UTKFace: non-commercial research; LICENSES/LicenseRef-facesense-research-weights.txt).`;
