"""The paper's own numbers (Ak et al., WACV 2018, Shopping100k subset, AlexNet), transcribed from the text
in shared/papers/004_*.txt.  Printed beside our measurements, always labelled as the paper's; never used
as a result of ours.

Fig. 6 is a plot; only the top-20 values its text states are known:

* 6a (direct retrieval): "The proposed method achieves the best performance, giving 56.5% top-20 retrieval
  accuracy which is 3% higher than the nearest competitor" -- the others are not given (None);
* 6b (after manipulation): proposed 53.1 %, AMNet 45.8 %, w/o parts & ranking 40.1 %, classic 33.2 %;
  w/o parts "decreases top-20 retrieval accuracy by around 7.5%" -- read as 53.1 − 7.5 = 45.6 % (marked
  approximate where shown).
"""

# Fig. 6 top-20 retrieval accuracy (fractions), per variant (None: not stated in the text)
FIG6A_TOP20 = {"proposed": 0.565, "wo_parts": None, "wo_parts_ranking": None, "classic": None, "amnet": None}
FIG6B_TOP20 = {"proposed": 0.531, "wo_parts": 0.456, "wo_parts_ranking": 0.401, "classic": 0.332, "amnet": 0.458}
FIG6B_APPROXIMATE = {"wo_parts"}   # derived from "around 7.5%" less than proposed

# Table 2: top-20 retrieval accuracy after manipulating one special attribute
TABLE2_ATTRIBUTES = ["pattern", "collar", "fastening", "sleeve_length", "color"]
TABLE2_TITLES = {"pattern": "Pattern", "collar": "Collar", "fastening": "Fastening", "sleeve_length": "Sleeve Length",
                 "color": "Color"}
TABLE2 = {
    "pattern": {"classic": 0.43, "wo_parts_ranking": 0.44, "wo_parts": 0.48, "amnet": 0.51, "proposed": 0.54},
    "collar": {"classic": 0.35, "wo_parts_ranking": 0.43, "wo_parts": 0.51, "amnet": 0.39, "proposed": 0.60},
    "fastening": {"classic": 0.14, "wo_parts_ranking": 0.16, "wo_parts": 0.30, "amnet": 0.38, "proposed": 0.35},
    "sleeve_length": {"classic": 0.23, "wo_parts_ranking": 0.32, "wo_parts": 0.37, "amnet": 0.37, "proposed": 0.46},
    "color": {"classic": 0.51, "wo_parts_ranking": 0.63, "wo_parts": 0.67, "amnet": 0.64, "proposed": 0.72},
}
