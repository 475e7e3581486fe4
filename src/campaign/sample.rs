//! Sampling: a campaign may survey a share of its eligible contacts. Which ones is decided by
//! a hash of the campaign's name and the contact's id, so a run over the same contacts picks
//! the same ones, and two campaigns sample independently. A per-agent minimum tops up agents
//! the share leaves with too few, so small teams still hear back; the contacts the campaign
//! already invited count toward it, so running the campaign again invites nobody new.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// `sample = { share = 0.25, min_per_agent = 5 }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// The share surveyed, more than 0 and at most 1.
    pub share: f64,
    /// Each agent has at least this many of their contacts in the audience invited (or all
    /// they have), counting those invited by earlier runs.
    #[serde(default)]
    pub min_per_agent: usize,
}

/// A contact of the audience as sampling sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The contact's own id, which the hash goes by.
    pub id: &'a str,
    pub agent: Option<i64>,
    /// Whether the campaign invited it already.
    pub invited: bool,
}

impl Sample {
    /// Of the contacts, in order, which are in the sample: those invited already, those
    /// whose hash falls under the share, and, for an agent with fewer than the minimum of
    /// these, the uninvited ones with the lowest hashes up to it.
    pub fn choose(&self, campaign: &str, contacts: &[Candidate]) -> Vec<bool> {
        let scores: Vec<f64> = contacts.iter().map(|c| score(campaign, c.id)).collect();
        let mut chosen: Vec<bool> = contacts
            .iter()
            .zip(&scores)
            .map(|(c, s)| c.invited || *s < self.share)
            .collect();
        if self.min_per_agent > 0 {
            let mut by_agent: HashMap<i64, Vec<usize>> = HashMap::new();
            for (i, c) in contacts.iter().enumerate() {
                if let Some(agent) = c.agent {
                    by_agent.entry(agent).or_default().push(i);
                }
            }
            for mut members in by_agent.into_values() {
                let have = members.iter().filter(|&&i| chosen[i]).count();
                // The lowest scores after the sampled ones come next.
                members.retain(|&i| !chosen[i]);
                members.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
                for i in members
                    .into_iter()
                    .take(self.min_per_agent.saturating_sub(have))
                {
                    chosen[i] = true;
                }
            }
        }
        chosen
    }
}

/// Where a contact falls in [0, 1) for a campaign: stable across runs, versions and machines.
fn score(campaign: &str, contact: &str) -> f64 {
    let digest = Sha256::new()
        .chain_update(campaign.as_bytes())
        .chain_update([0])
        .chain_update(contact.as_bytes())
        .finalize();
    let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (head >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("T-{i}")).collect()
    }

    #[test]
    fn the_same_contacts_give_the_same_sample_near_the_share() {
        let sample = Sample {
            share: 0.25,
            min_per_agent: 0,
        };
        let ids = ids(10_000);
        fn candidates(ids: &[String]) -> Vec<Candidate<'_>> {
            ids.iter()
                .map(|id| Candidate {
                    id,
                    agent: None,
                    invited: false,
                })
                .collect()
        }
        let pick = |campaign| sample.choose(campaign, &candidates(&ids));
        let first = pick("after-call");
        assert_eq!(first, pick("after-call"));
        let taken = first.iter().filter(|c| **c).count();
        // 2,500 expected; the binomial's standard deviation is about 43.
        assert!((2_300..=2_700).contains(&taken), "{taken}");
        // Another campaign samples independently: about a quarter of the first's picks.
        let other = pick("another");
        let both = first.iter().zip(&other).filter(|(a, b)| **a && **b).count();
        assert!((500..=750).contains(&both), "{both}");
        // A contact's place does not depend on the others: a subset keeps its picks.
        let part = sample.choose("after-call", &candidates(&ids[..100]));
        assert_eq!(part, first[..100]);
    }

    #[test]
    fn small_agents_are_topped_up_to_the_minimum() {
        let sample = Sample {
            share: 0.1,
            min_per_agent: 3,
        };
        let ids = ids(200);
        // Agent 1 has 190 contacts, agent 2 has 4, agent 3 has 2; six have no agent.
        let agent = |i: usize| match i {
            0..190 => Some(1),
            190..194 => Some(2),
            194..196 => Some(3),
            _ => None,
        };
        let candidates = |invited: &dyn Fn(usize) -> bool| -> Vec<Candidate> {
            ids.iter()
                .enumerate()
                .map(|(i, id)| Candidate {
                    id,
                    agent: agent(i),
                    invited: invited(i),
                })
                .collect()
        };
        let chosen = sample.choose("after-call", &candidates(&|_| false));
        let count = |a: Option<i64>| (0..200).filter(|&i| agent(i) == a && chosen[i]).count();
        assert!(
            count(Some(1)) >= 3 && count(Some(1)) < 40,
            "{}",
            count(Some(1))
        );
        assert_eq!((count(Some(2)), count(Some(3))), (3, 2));
        let plain = Sample {
            min_per_agent: 0,
            ..sample
        };
        let unassigned = plain.choose("after-call", &candidates(&|_| false));
        assert_eq!(count(None), (196..200).filter(|&i| unassigned[i]).count());
        // Chosen contacts invited by an earlier run count toward the minimum: choosing again
        // adds nobody.
        let again = sample.choose("after-call", &candidates(&|i| chosen[i]));
        assert_eq!(again, chosen);
        // Agent 2's contacts invited otherwise (three of the four) leave no room for a top-up.
        let invited_before = |i: usize| (190..193).contains(&i);
        let topped = sample.choose("after-call", &candidates(&invited_before));
        let fourth = (190..194).find(|&i| !invited_before(i)).unwrap();
        assert_eq!(
            topped[fourth],
            plain.choose("after-call", &candidates(&|_| false))[fourth]
        );
    }
}
