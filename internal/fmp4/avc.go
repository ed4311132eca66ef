package fmp4

import "encoding/binary"

// AVC writes a decodable H.264 stream without an encoder, for synthetic titles a browser can
// play: Main profile, CAVLC. An IDR picture's top row of macroblocks is I_PCM (raw samples: the
// picture's colours), every other macroblock is Intra 16x16 with vertical prediction and no
// residual, so the top row's colours run down the whole picture as vertical bars; the other
// frames of a segment are P pictures whose macroblocks are all skipped (a copy of the IDR).
// The bars show the title's progress and the rendition, so a viewer sees ABR switches.
type AVC struct {
	Width, Height          int
	Profile, Compat, Level byte
	mbW, mbH               int
}

// log2MaxFrameNum bounds frame_num: 256 pictures between IDRs.
const log2MaxFrameNum = 8

// NewAVC returns a stream writer for pictures of w x h pixels with the avcC's profile bytes.
func NewAVC(w, h int, profile, compat, level byte) *AVC {
	return &AVC{Width: w, Height: h, Profile: profile, Compat: compat, Level: level, mbW: (w + 15) / 16, mbH: (h + 15) / 16}
}

// bits writes an RBSP bit by bit.
type bits struct {
	b    []byte
	cur  byte
	nbit int
}

func (w *bits) u(n int, v uint64) {
	for i := n - 1; i >= 0; i-- {
		w.cur = w.cur<<1 | byte(v>>uint(i)&1)
		if w.nbit++; w.nbit == 8 {
			w.b = append(w.b, w.cur)
			w.cur, w.nbit = 0, 0
		}
	}
}

func (w *bits) ue(v uint64) {
	v++
	n := 0
	for t := v; t > 1; t >>= 1 {
		n++
	}
	w.u(n, 0)
	w.u(n+1, v)
}

func (w *bits) se(v int64) {
	if v > 0 {
		w.ue(uint64(2*v - 1))
	} else {
		w.ue(uint64(-2 * v))
	}
}

// align writes zero bits to the next byte boundary.
func (w *bits) align() {
	for w.nbit != 0 {
		w.u(1, 0)
	}
}

// trailing writes rbsp_trailing_bits.
func (w *bits) trailing() []byte {
	w.u(1, 1)
	w.align()
	return w.b
}

// nal wraps an RBSP in a NAL unit header and escapes start-code emulation.
func nal(refIdc, typ byte, rbsp []byte) []byte {
	out := make([]byte, 0, len(rbsp)+len(rbsp)/64+1)
	out = append(out, refIdc<<5|typ)
	zeros := 0
	for _, c := range rbsp {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// SPS returns the sequence parameter set NAL unit.
func (a *AVC) SPS() []byte {
	var w bits
	w.u(8, uint64(a.Profile))
	w.u(8, uint64(a.Compat))
	w.u(8, uint64(a.Level))
	w.ue(0)                   // seq_parameter_set_id
	w.ue(log2MaxFrameNum - 4) // log2_max_frame_num_minus4
	w.ue(2)                   // pic_order_cnt_type 2: output order is decoding order
	w.ue(1)                   // max_num_ref_frames
	w.u(1, 0)                 // gaps_in_frame_num_value_allowed_flag
	w.ue(uint64(a.mbW - 1))   // pic_width_in_mbs_minus1
	w.ue(uint64(a.mbH - 1))   // pic_height_in_map_units_minus1
	w.u(1, 1)                 // frame_mbs_only_flag
	w.u(1, 1)                 // direct_8x8_inference_flag
	cropR, cropB := (a.mbW*16-a.Width)/2, (a.mbH*16-a.Height)/2
	if cropR > 0 || cropB > 0 {
		w.u(1, 1)
		w.ue(0)
		w.ue(uint64(cropR))
		w.ue(0)
		w.ue(uint64(cropB))
	} else {
		w.u(1, 0)
	}
	w.u(1, 0) // vui_parameters_present_flag
	return nal(3, 7, w.trailing())
}

// PPS returns the picture parameter set NAL unit.
func (a *AVC) PPS() []byte {
	var w bits
	w.ue(0)   // pic_parameter_set_id
	w.ue(0)   // seq_parameter_set_id
	w.u(1, 0) // entropy_coding_mode_flag: CAVLC
	w.u(1, 0) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)   // num_slice_groups_minus1
	w.ue(0)   // num_ref_idx_l0_default_active_minus1
	w.ue(0)   // num_ref_idx_l1_default_active_minus1
	w.u(1, 0) // weighted_pred_flag
	w.u(2, 0) // weighted_bipred_idc
	w.se(0)   // pic_init_qp_minus26
	w.se(0)   // pic_init_qs_minus26
	w.se(0)   // chroma_qp_index_offset
	w.u(1, 1) // deblocking_filter_control_present_flag
	w.u(1, 0) // constrained_intra_pred_flag
	w.u(1, 0) // redundant_pic_cnt_present_flag
	return nal(3, 8, w.trailing())
}

// Colour is one macroblock's colour in Y'CbCr, each 16..240.
type Colour struct{ Y, Cb, Cr byte }

// IDR returns an IDR picture's slice NAL unit whose top macroblock row has the colours top
// gives (one per macroblock column; missing ones mid grey) and whose other rows repeat it.
func (a *AVC) IDR(id int, top []Colour) []byte {
	var w bits
	w.ue(0)                   // first_mb_in_slice
	w.ue(7)                   // slice_type: I, every slice of the picture
	w.ue(0)                   // pic_parameter_set_id
	w.u(log2MaxFrameNum, 0)   // frame_num
	w.ue(uint64(id & 0xffff)) // idr_pic_id
	w.u(1, 0)                 // no_output_of_prior_pics_flag
	w.u(1, 0)                 // long_term_reference_flag
	w.se(0)                   // slice_qp_delta
	w.ue(1)                   // disable_deblocking_filter_idc: off
	for x := 0; x < a.mbW; x++ {
		c := Colour{128, 128, 128}
		if x < len(top) {
			c = top[x]
		}
		w.ue(25) // mb_type I_PCM
		w.align()
		for i := 0; i < 256; i++ {
			w.b = append(w.b, c.Y)
		}
		for i := 0; i < 64; i++ {
			w.b = append(w.b, c.Cb)
		}
		for i := 0; i < 64; i++ {
			w.b = append(w.b, c.Cr)
		}
	}
	for y := 1; y < a.mbH; y++ {
		for x := 0; x < a.mbW; x++ {
			w.ue(1) // mb_type I_16x16_0_0_0: vertical prediction, no coded block
			w.ue(2) // intra_chroma_pred_mode: vertical
			w.se(0) // mb_qp_delta
			// Intra16x16DCLevel with no coefficient: coeff_token for TotalCoeff 0 in the
			// table nC selects. Below an I_PCM row nC counts it as 16 coefficients.
			nC := 0
			if y == 1 {
				nC = 16
				if x > 0 {
					nC = (0 + 16 + 1) >> 1
				}
			}
			switch {
			case nC < 2:
				w.u(1, 1)
			case nC < 4:
				w.u(2, 3)
			case nC < 8:
				w.u(4, 15)
			default:
				w.u(6, 3)
			}
		}
	}
	return nal(3, 5, w.trailing())
}

// P returns a P picture's slice NAL unit with every macroblock skipped: a copy of the last.
func (a *AVC) P(frameNum int) []byte {
	var w bits
	w.ue(0) // first_mb_in_slice
	w.ue(5) // slice_type: P, every slice of the picture
	w.ue(0) // pic_parameter_set_id
	w.u(log2MaxFrameNum, uint64(frameNum)&(1<<log2MaxFrameNum-1))
	w.u(1, 0)                   // num_ref_idx_active_override_flag
	w.u(1, 0)                   // ref_pic_list_modification_flag_l0
	w.u(1, 0)                   // adaptive_ref_pic_marking_mode_flag
	w.se(0)                     // slice_qp_delta
	w.ue(1)                     // disable_deblocking_filter_idc
	w.ue(uint64(a.mbW * a.mbH)) // mb_skip_run
	return nal(2, 1, w.trailing())
}

// AVCC returns NAL units in the length-prefixed form of an MP4 sample.
func AVCC(nals ...[]byte) []byte {
	var out []byte
	for _, n := range nals {
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
	}
	return out
}
