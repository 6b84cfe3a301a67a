//! The 2 × 2 grid models of Rao, Böhle & Schiele ("Towards Better Understanding Attribution
//! Methods", CVPR 2022), built around any split model whose images are H × W: the input is a
//! grid of four images, 2H × 2W, cell j = 2·row + column.
//!
//! * [`Layout::DiFull`]: each cell goes through its own copy of the model's features (the same
//!   weights, run on the cell alone) and the four maps are stitched into one 2h × 2w explained
//!   layer; head j reads quadrant j only. Output \[N, 4K\], class k of cell j at j·K + k. No
//!   pixel outside cell j can change output j: attribution there is provably wrong.
//! * [`Layout::DiPart`]: the features run on the whole grid (their receptive fields cross the
//!   cells' borders), and head j reads quadrant j of the explained layer only. Output as DiFull.
//! * [`Layout::GridPg`]: the features run on the whole grid, and one output per class reads every
//!   quadrant: the mean over the quadrants of the head's logits (for a global-average-pool head,
//!   the head on the whole map). Output \[N, K\].
//!
//! DiPart and GridPG need features that are convolutional (a 2H × 2W grid gives an even
//! 2h × 2w map whose quadrants the head accepts); DiFull works on any split model.
use super::wrapped::Wrapped;
use super::{ParameterGroup, SplitModel, Step, Steps};
use crate::error::{Error, Result};
use tch::{Device, Tensor};

/// Which grid model (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    DiFull,
    DiPart,
    GridPg,
}

/// Cells per side of the grid.
pub const SIDE: i64 = 2;
/// Cells of the grid.
pub const CELLS: i64 = SIDE * SIDE;

/// The quadrants of `t` \[N, C, 2h, 2w\] as \[4N, C, h, w\], image-major (image i's cell j at
/// 4i + j).
pub fn quadrants(t: &Tensor) -> Tensor {
    let (n, c, h2, w2) = t.size4().expect("a 4-d tensor");
    let (h, w) = (h2 / SIDE, w2 / SIDE);
    t.view([n, c, SIDE, h, SIDE, w])
        .permute([0, 2, 4, 1, 3, 5])
        .reshape([n * CELLS, c, h, w])
}

/// The inverse of [`quadrants`]: \[4N, C, h, w\] stitched into \[N, C, 2h, 2w\].
pub fn stitch(t: &Tensor) -> Tensor {
    let (n4, c, h, w) = t.size4().expect("a 4-d tensor");
    t.view([n4 / CELLS, SIDE, SIDE, c, h, w])
        .permute([0, 3, 1, 4, 2, 5])
        .reshape([n4 / CELLS, c, SIDE * h, SIDE * w])
}

/// `step` applied to each cell of a stitched grid, the cells stitched back (a ReLU acts on each
/// value alike and stays one).
fn per_cell(step: Step<'_>) -> Step<'_> {
    match step {
        Step::Relu => Step::Relu,
        Step::Map(f) => Step::map(move |t| stitch(&f(&quadrants(t)))),
        Step::Biased(f, biases) => {
            Step::Biased(Box::new(move |t| stitch(&f(&quadrants(t)))), biases)
        }
    }
}

/// A split model rearranged as one of the grid models (module doc).
pub struct Grid<'a> {
    inner: Wrapped<'a>,
    layout: Layout,
}

impl<'a> Grid<'a> {
    pub fn new(model: &'a dyn SplitModel, layout: Layout) -> Self {
        Grid {
            inner: Wrapped::Borrowed(model),
            layout,
        }
    }

    fn inner(&self) -> &dyn SplitModel {
        self.inner.get()
    }

    /// Refuses a token model: the grids cut and stitch a CNN layer [N, V, h, w].
    fn not_tokens(&self) -> Result<()> {
        match self.inner().tokens() {
            false => Ok(()),
            true => Err(Error::model(
                "the grid checks cut and stitch a CNN layer [N, V, h, w]; this model's \
                 explained layer is tokens",
                self.inner().name(),
                "run difull, dipart or gridpg on a convolutional model",
            )),
        }
    }

    /// Refuses a tensor whose last two sides are not even (the grid cannot be cut in four).
    fn even(&self, t: &Tensor, what: &str) -> Result<()> {
        let size = t.size();
        let even = size.len() == 4 && size[2] % SIDE == 0 && size[3] % SIDE == 0;
        match even {
            true => Ok(()),
            false => Err(Error::model(
                format!("{what} of a grid has shape {size:?}, which does not split into 2 x 2"),
                self.inner().name(),
                "DiPart and GridPG need features that are convolutional, so that a grid of four \
                 images gives an explained layer of twice the height and width; use difull",
            )),
        }
    }

    /// From the quadrant heads' logits \[4N, K\] to the grid's output.
    fn combine(&self, logits: &Tensor) -> Tensor {
        let (n4, k) = (logits.size()[0], logits.size()[1]);
        match self.layout {
            Layout::DiFull | Layout::DiPart => logits.reshape([n4 / CELLS, CELLS * k]),
            Layout::GridPg => logits.view([n4 / CELLS, CELLS, k]).mean_dim(1, false, None),
        }
    }
}

impl SplitModel for Grid<'_> {
    fn name(&self) -> String {
        let layout = match self.layout {
            Layout::DiFull => "DiFull",
            Layout::DiPart => "DiPart",
            Layout::GridPg => "GridPG",
        };
        format!("{} as a 2x2 {layout} grid", self.inner().name())
    }
    fn device(&self) -> Device {
        self.inner().device()
    }
    fn input_channels(&self) -> Option<i64> {
        self.inner().input_channels()
    }
    fn input_size(&self) -> Option<(i64, i64)> {
        match self.layout {
            Layout::DiFull => self.inner().input_size().map(|(h, w)| (SIDE * h, SIDE * w)),
            // The features see the whole grid: any size they accept.
            Layout::DiPart | Layout::GridPg => None,
        }
    }
    fn peak_bytes(&self, n: i64, height: i64, width: i64) -> Option<u128> {
        match self.layout {
            Layout::DiFull => self.inner().peak_bytes(n * CELLS, height / SIDE, width / SIDE),
            Layout::DiPart | Layout::GridPg => self.inner().peak_bytes(n, height, width),
        }
    }
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.not_tokens()?;
        match self.layout {
            Layout::DiFull => {
                self.even(x, "the input")?;
                Ok(stitch(&self.inner().features(&quadrants(x))?))
            }
            Layout::DiPart | Layout::GridPg => {
                let a = self.inner().features(x)?;
                self.even(&a, "the explained layer")?;
                Ok(a)
            }
        }
    }
    fn head(&self, a: &Tensor) -> Result<Tensor> {
        self.even(a, "the explained layer")?;
        Ok(self.combine(&self.inner().head(&quadrants(a))?))
    }
    fn parameter_groups(&self) -> Result<Vec<ParameterGroup>> {
        self.inner().parameter_groups()
    }
    /// DiFull's feature steps act on each cell and stitch the cells back after every step, so
    /// that every intermediate tensor is a grid of the batch's own size (FullGrad sums the bias
    /// gradients of every step over the image).
    fn steps(&self) -> Option<Steps<'_>> {
        let inner = self.inner().steps()?;
        let features = match self.layout {
            Layout::DiFull => inner.features.into_iter().map(per_cell).collect(),
            Layout::DiPart | Layout::GridPg => inner.features,
        };
        let mut head = vec![Step::map(quadrants)];
        head.extend(inner.head);
        head.push(Step::map(move |logits| self.combine(logits)));
        Some(Steps { features, head })
    }
    fn to_double(&self) -> Result<Option<Box<dyn SplitModel>>> {
        let layout = self.layout;
        Ok(self.inner().to_double()?.map(|inner| {
            Box::new(Grid {
                inner: Wrapped::Owned(inner),
                layout,
            }) as Box<dyn SplitModel>
        }))
    }
}
